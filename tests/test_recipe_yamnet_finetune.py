"""Tests of the recipe step that fine-tunes the last YAMNet blocks of a trained openclap-yamnet model.

The heads recipe's test corpus (seeded random YAMNet export, real clips of the TensorFlow fixture, 1.5 s
windows) and a model trained on it by the heads recipe stand in for the corpus and the shipped default.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from openclap import create_model
from tests.helpers import load_recipe, run_script
from tests.test_recipe_yamnet_heads import _corpus

heads = load_recipe("yamnet_heads")
finetune = load_recipe("yamnet_finetune")


def _init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """DATA, manifest and a model trained by the heads recipe on them (the fine-tuning's start)."""
    data, manifest, config = _corpus(tmp_path)
    init = tmp_path / "init.safetensors"
    monkeypatch.setattr(sys, "argv", ["yamnet_heads.py", "--data", str(data), "--manifest", str(manifest),
                                      "--config", str(config), "--epochs", "2", "--batch-size", "4",
                                      "--no-calibrate", "--out", str(init)])  # fmt: skip
    run_script(heads.main)
    return data, manifest, init


def _run(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["yamnet_finetune.py", *args])
    run_script(finetune.main)


def test_trunk_then_tail_is_the_models_own_audio_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, _, init = _init(tmp_path, monkeypatch)
    model = create_model(checkpoint=init)
    net = finetune.tower(model)
    for clip in ("clip0.wav", "clip1.wav"):
        windows = finetune.clip_windows(model, str(data / "audio" / clip))
        with torch.inference_mode():
            waves = model.prepare_waveforms(windows)
            direct = model.audio_features(waves)
            trunk = finetune.trunk_forward(net, model.frontend(waves), blocks=2)
            split = finetune.tail_forward(net, trunk, blocks=2)
        assert trunk.shape[2:] == (512, 6, 4)  # the input of the last two blocks
        torch.testing.assert_close(split, direct, rtol=0, atol=1e-5)


def test_tunes_only_the_last_blocks_and_heads_caches_the_trunk_and_reruns_bit_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data, manifest, init = _init(tmp_path, monkeypatch)
    common = ["--data", str(data), "--manifest", str(manifest), "--init", str(init)]
    common += ["--epochs", "2", "--eval-every", "1", "--batch-size", "4", "--lr-tower", "1e-2"]
    capsys.readouterr()
    _run(monkeypatch, *common, "--out", str(tmp_path / "a.safetensors"))
    out = capsys.readouterr().out
    assert "wrote " in out and "yamnet_trunk_2.safetensors" in out and "epoch 0: val zero-shot" in out
    _run(monkeypatch, *common, "--out", str(tmp_path / "b.safetensors"))
    assert "read " in capsys.readouterr().out  # the second run reads the cached trunk
    a, b, start = (load_file(str(p)) for p in (tmp_path / "a.safetensors", tmp_path / "b.safetensors", init))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # deterministic
    changed = {k for k in a if not torch.equal(a[k], start[k])}  # none if epoch 0 stayed the best on val
    assert not any(k.startswith("audio_encoder.layers.") and int(k.split(".")[2]) < 12 for k in changed)
    assert not any("running_" in k or k.startswith("audio_encoder.classifier") for k in changed)
    model = create_model(checkpoint=tmp_path / "a.safetensors")
    with torch.inference_mode():
        emb = model.encode_audio(
            model.prepare_waveforms([torch.from_numpy(sf.read(data / "audio/clip9.wav")[0])])
        )
    assert emb.shape == (1, 512) and torch.isfinite(emb).all()
    _run(monkeypatch, *common, "--blocks", "1", "--out", str(tmp_path / "c.safetensors"))
    assert "yamnet_trunk_1.safetensors" in capsys.readouterr().out  # another depth, another cache


def test_bad_arguments_are_named_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("")
    args = ["--data", str(tmp_path), "--manifest", str(manifest)]
    with pytest.raises(SystemExit, match=r"nope\.safetensors not found"):
        _run(
            monkeypatch,
            *args,
            "--init",
            str(tmp_path / "nope.safetensors"),
            "--out",
            str(tmp_path / "o.safetensors"),
        )
    with pytest.raises(SystemExit, match="--blocks 0: give 1 to 13"):
        _run(
            monkeypatch,
            *args,
            "--init",
            str(manifest),
            "--blocks",
            "0",
            "--out",
            str(tmp_path / "o.safetensors"),
        )
    with pytest.raises(SystemExit, match=r"give a \.safetensors file name"):
        _run(monkeypatch, *args, "--init", str(manifest), "--out", str(tmp_path / "o.pt"))
    with pytest.raises(SystemExit, match=r"error: .*m\.jsonl"):  # not a checkpoint: one line, no traceback
        _run(monkeypatch, *args, "--init", str(manifest), "--out", str(tmp_path / "o.safetensors"))


def test_a_step_moves_the_last_blocks_and_the_heads_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, init = _init(tmp_path, monkeypatch)
    model = create_model(checkpoint=init).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = finetune.optimizer(model, blocks=2, lr_tower=1e-2, lr_heads=1e-2, weight_decay=0.0)
    torch.manual_seed(0)
    x = torch.rand(4, 2, 512, 6, 4).to(torch.float16)
    finetune.train_step(model, 2, x, torch.randn(4, 384), opt)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    tuned = {k for k in changed if k.startswith("audio_encoder.")}
    assert {k.split(".")[2] for k in tuned} == {"12", "13"}
    assert all(k.endswith(("conv.weight", "pointwise.weight", "bn.bias")) for k in tuned)
    assert any(k.startswith("audio_projection.") for k in changed)
    assert any(k.startswith("text_projection.") for k in changed) and "logit_scale" in changed
    assert not any(k.startswith("text_encoder.") for k in changed)


def test_an_empty_split_or_an_unwritable_data_folder_is_named_before_the_trunk_is_computed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data, manifest, init = _init(tmp_path, monkeypatch)
    only_train = tmp_path / "train_only.jsonl"
    lines = [line for line in manifest.read_text().splitlines() if '"train"' in line]
    only_train.write_text("".join(line + "\n" for line in lines))
    capsys.readouterr()
    with pytest.raises(SystemExit, match="needs clips in both the train and val splits"):
        _run(monkeypatch, "--data", str(data), "--manifest", str(only_train), "--init", str(init),
             "--out", str(tmp_path / "o.safetensors"))  # fmt: skip
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(SystemExit, match=r"--data .*blocker is a file, not a folder"):
        _run(monkeypatch, "--data", str(tmp_path / "blocker" / "data"), "--manifest", str(manifest),
             "--init", str(init), "--out", str(tmp_path / "o.safetensors"))  # fmt: skip
    assert "clips," not in capsys.readouterr().out  # no trunk computed
