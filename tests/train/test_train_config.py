from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from openclap.train.config import TrainConfig, apply_overrides, dump_train_config, load_train_config


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_yaml_sections_and_overrides(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "run.yaml",
        {
            "model": "tiny-test",
            "data": {"train_manifest": "m.jsonl"},
            "optim": {"lr": 3e-4, "betas": [0.9, 0.98]},
        },
    )
    config = load_train_config(path, ["optim.warmup_steps=7", "freeze.text=true", "max_steps=12"])
    assert config.optim.lr == 3e-4 and config.optim.betas == (0.9, 0.98)
    assert config.optim.warmup_steps == 7 and config.freeze.text is True and config.max_steps == 12
    again = TrainConfig.from_dict(yaml.safe_load(dump_train_config(config)))
    assert again == config


def test_unknown_keys_and_bad_values_are_named(tmp_path: Path) -> None:
    base = {"data": {"train_manifest": "m.jsonl"}}
    with pytest.raises(ValueError, match=r"unknown keys \['lr'\] in 'config'"):
        TrainConfig.from_dict({**base, "lr": 1.0})
    with pytest.raises(ValueError, match=r"unknown keys \['warmup'\] in 'optim'"):
        TrainConfig.from_dict({**base, "optim": {"warmup": 3}})
    with pytest.raises(ValueError, match="precision"):
        TrainConfig.from_dict({**base, "precision": "fp8"})
    with pytest.raises(ValueError, match=r"train_manifest or data\.train_shards"):
        TrainConfig.from_dict({})
    with pytest.raises(ValueError, match="key=value"):
        apply_overrides({}, ["novalue"])


def test_room_and_noise_ranges_round_trip_and_are_checked(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "run.yaml",
        {
            "data": {"train_manifest": "m.jsonl"},
            "augment": {"reverb_prob": 0.5, "reverb_rt60": [0.3, 0.9], "noise_prob": 0.5},
        },
    )
    config = load_train_config(path, ["augment.noise_snr_db=[10, 20]"])
    assert config.augment.reverb_rt60 == (0.3, 0.9) and config.augment.noise_snr_db == (10.0, 20.0)
    assert TrainConfig.from_dict(yaml.safe_load(dump_train_config(config))) == config
    for bad, message in (
        ("augment.reverb_rt60=[1.0, 0.5]", "low <= high"),
        ("augment.reverb_rt60=[0, 0.5]", "positive seconds"),
        ("augment.noise_snr_db=[10]", r"\[low, high\]"),
        ("augment.reverb_rt60=0.5", r"\[low, high\]"),
        ("augment.noise_prob=1.5", r"noise_prob must be in \[0, 1\]"),
    ):
        with pytest.raises(ValueError, match=message):
            load_train_config(path, [bad])
