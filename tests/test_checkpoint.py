"""Checkpoints: bit-exact round trips, external text towers, strict loading, refusing non-safetensors and
pickles, atomic writes."""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from openclap import CheckpointError, ClapModel, create_model, save_checkpoint
from openclap.checkpoint import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    load_state_strict,
    load_weights,
    read_config,
    read_metadata,
)
from openclap.registry import get_config
from tests.helpers import noise

TEXTS = ["a dog barks", "rain"]


def _outputs(model: ClapModel) -> tuple[torch.Tensor, torch.Tensor]:
    waves = torch.from_numpy(noise(model.config.audio.clip_samples, seed=3, channels=2))
    with torch.inference_mode():
        return model.encode_audio(waves), model.encode_text(TEXTS)


def _assert_same_state(a: ClapModel, b: ClapModel) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        assert torch.equal(sa[key], sb[key]), key


def test_round_trip_is_bit_exact(tiny_model: ClapModel, tiny_checkpoint: Path) -> None:
    assert sorted(p.name for p in tiny_checkpoint.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    loaded = create_model(checkpoint=tiny_checkpoint)
    assert loaded.config == tiny_model.config
    assert not loaded.training
    _assert_same_state(tiny_model, loaded)
    for ours, theirs in zip(_outputs(tiny_model), _outputs(loaded), strict=True):
        assert torch.equal(ours, theirs)


def test_safetensors_file_alone_is_self_describing(tiny_model: ClapModel, tiny_checkpoint: Path) -> None:
    weights = tiny_checkpoint / WEIGHTS_NAME
    loaded = create_model(checkpoint=weights)
    _assert_same_state(tiny_model, loaded)
    meta = read_metadata(weights)
    assert meta["format"] == "openclap" and meta["text_weights"] == "included"
    assert read_config(weights) == tiny_model.config
    on_disk = json.loads((tiny_checkpoint / CONFIG_NAME).read_text())
    assert on_disk == meta


def test_extra_metadata_is_kept(tiny_model: ClapModel, tmp_path: Path) -> None:
    folder = save_checkpoint(tiny_model, tmp_path / "ck", extra={"step": 12, "note": "hello"})
    meta = read_metadata(folder)
    assert meta["step"] == 12 and meta["note"] == "hello"


def test_round_trip_without_the_pretrained_text_tower(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = create_model("openclap-small")
    folder = save_checkpoint(model, tmp_path / "small", include_text=False)
    with safe_open(str(folder / WEIGHTS_NAME), framework="pt") as fh:
        keys = list(fh.keys())
    assert keys and not any(k.startswith("text_encoder.") for k in keys)
    assert any(k.startswith("text_projection.") for k in keys)  # the projection is ours, it is saved
    assert read_metadata(folder)["text_weights"] == "external"

    loaded = create_model(checkpoint=folder)  # the MiniLM tower comes from its package
    _assert_same_state(model, loaded)
    for ours, theirs in zip(_outputs(model), _outputs(loaded), strict=True):
        assert torch.equal(ours, theirs)
    # and it is much smaller than a full checkpoint
    full = save_checkpoint(model, tmp_path / "full")
    assert (folder / WEIGHTS_NAME).stat().st_size < 0.2 * (full / WEIGHTS_NAME).stat().st_size


def test_external_text_needs_a_pretrained_tower(tiny_model: ClapModel, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="include_text=False needs a pretrained text tower"):
        save_checkpoint(tiny_model, tmp_path / "ck", include_text=False)
    assert not (tmp_path / "ck" / WEIGHTS_NAME).exists()


def test_external_text_needs_a_text_source(tmp_path: Path) -> None:
    """A config with ``pretrained=True`` but no ``source`` rebuilds its text tower at random: saving it
    without the text weights would silently lose them."""
    cfg = get_config("tiny-test")
    cfg = cfg.replace(text_encoder=dataclasses.replace(cfg.text_encoder, pretrained=True))
    model = ClapModel(cfg)
    with pytest.raises(CheckpointError, match="include_text=False needs a pretrained text tower"):
        save_checkpoint(model, tmp_path / "ck", include_text=False)


# ----- strict loading -------------------------------------------------------------------------------


def _rewrite(folder: Path, dest: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    """Copy a checkpoint with its tensors edited by ``edit(state)`` (metadata kept)."""
    with safe_open(str(folder / WEIGHTS_NAME), framework="pt") as fh:
        metadata = fh.metadata()
    state = load_file(str(folder / WEIGHTS_NAME))
    edit(state)
    dest.mkdir(parents=True)
    save_file(state, str(dest / WEIGHTS_NAME), metadata=metadata)
    return dest


def test_missing_keys_are_named(tiny_checkpoint: Path, tmp_path: Path) -> None:
    bad = _rewrite(tiny_checkpoint, tmp_path / "bad", lambda s: s.pop("audio_projection.linear1.weight"))
    with pytest.raises(CheckpointError, match=r"missing keys: audio_projection\.linear1\.weight") as info:
        create_model(checkpoint=bad)
    assert str(bad / WEIGHTS_NAME) in str(info.value)
    assert "unexpected" not in str(info.value)


def test_unexpected_keys_are_named(tiny_checkpoint: Path, tmp_path: Path) -> None:
    bad = _rewrite(
        tiny_checkpoint, tmp_path / "bad", lambda s: s.update({"extra.head.weight": torch.zeros(2)})
    )
    with pytest.raises(CheckpointError, match=r"unexpected keys: extra\.head\.weight"):
        create_model(checkpoint=bad)


def test_mis_shaped_keys_are_named(tiny_checkpoint: Path, tmp_path: Path) -> None:
    bad = _rewrite(tiny_checkpoint, tmp_path / "bad", lambda s: s.update({"logit_scale": torch.zeros(3)}))
    with pytest.raises(
        CheckpointError, match=r"shape mismatches: logit_scale: checkpoint \(3,\) vs model \(\)"
    ):
        create_model(checkpoint=bad)


def test_checkpoint_for_another_architecture(tiny_checkpoint: Path) -> None:
    with pytest.raises(CheckpointError, match="checkpoint does not match the model") as info:
        create_model("openclap-small", checkpoint=tiny_checkpoint)
    message = str(info.value)
    assert "missing keys" in message and "shape mismatches" in message
    assert "in all)" in message  # long lists are cut, with the total


def test_load_state_strict_lists_every_kind_of_problem() -> None:
    model = torch.nn.Linear(3, 2)
    state = {"weight": torch.zeros(2, 4), "other": torch.zeros(1)}
    with pytest.raises(CheckpointError) as info:
        load_state_strict(model, state, "src.safetensors")
    assert str(info.value) == (
        "src.safetensors: checkpoint does not match the model; missing keys: bias; unexpected keys: other; "
        "shape mismatches: weight: checkpoint (2, 4) vs model (2, 3)"
    )
    before = model.weight.clone()
    assert torch.equal(model.weight, before)  # nothing was copied


def test_load_weights_into_a_built_model(tiny_model: ClapModel, tiny_checkpoint: Path) -> None:
    model = ClapModel(tiny_model.config)
    load_weights(model, tiny_checkpoint)
    _assert_same_state(tiny_model, model)


# ----- refused files --------------------------------------------------------------------------------


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to unpickle fail loudly."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a checkpoint was unpickled")

    class RefusingUnpickler:
        def __init__(self, *args: object, **kwargs: object) -> None:
            refuse()

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", RefusingUnpickler)


def _pickle_file(path: Path) -> Path:
    with open(path, "wb") as fh:
        pickle.dump({"state_dict": {"x": 1}}, fh)
    return path


@pytest.mark.parametrize("suffix", [".pth", ".pt", ".ckpt"])
def test_openclap_loader_refuses_pickles_without_unpickling(
    tiny_model: ClapModel, tmp_path: Path, no_unpickling: None, suffix: str
) -> None:
    path = _pickle_file(tmp_path / f"model{suffix}")
    message = rf"{path}: not an openclap checkpoint \(expected a folder or a \.safetensors file; convert"
    with pytest.raises(CheckpointError, match=message):
        load_weights(ClapModel(tiny_model.config), path)
    with pytest.raises(CheckpointError, match=message):
        read_metadata(path)


def test_malicious_pickle_never_runs(tmp_path: Path) -> None:
    """create_model hands published .pth files to the converters; whatever they do, a pickle's code must
    not run."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.mkdir, (str(marker),))  # type: ignore[return-value]

    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"state_dict": Evil()}, protocol=2))
    with pytest.raises(Exception):  # noqa: B017 - the error type belongs to the converters
        create_model(checkpoint=path)
    assert not marker.exists()


def test_pickle_renamed_to_safetensors_is_refused(
    tiny_model: ClapModel, tmp_path: Path, no_unpickling: None
) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"x": list(range(100))}))
    with pytest.raises(CheckpointError, match=rf"{path}: not a readable safetensors file"):
        load_weights(ClapModel(tiny_model.config), path)


def test_text_file_as_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.safetensors"
    path.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        read_metadata(path)


def test_safetensors_without_openclap_metadata(tiny_model: ClapModel, tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match=rf"{path}: safetensors file has no openclap metadata"):
        load_weights(ClapModel(tiny_model.config), path)


def test_newer_format_version_is_refused(tiny_checkpoint: Path, tmp_path: Path) -> None:
    state = load_file(str(tiny_checkpoint / WEIGHTS_NAME))
    meta = read_metadata(tiny_checkpoint)
    path = tmp_path / "future.safetensors"
    save_file(state, str(path), metadata={"openclap": json.dumps({**meta, "format_version": 99})})
    with pytest.raises(CheckpointError, match="unsupported checkpoint format 'openclap' version 99"):
        create_model(checkpoint=path)


@pytest.mark.parametrize("name", ["missing", "folder"])
def test_missing_checkpoint(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name == "folder":
        path.mkdir()  # a folder without model.safetensors
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        create_model(checkpoint=path)


# ----- atomic writes ------------------------------------------------------------------------------


def test_save_leaves_no_temporary_files(tiny_model: ClapModel, tmp_path: Path) -> None:
    folder = save_checkpoint(tiny_model, tmp_path / "a" / "b")  # parents are created
    save_checkpoint(tiny_model, folder)  # overwrite in place
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]


def test_failed_save_keeps_the_old_checkpoint(
    tiny_model: ClapModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openclap.checkpoint as ckpt

    folder = save_checkpoint(tiny_model, tmp_path / "ck")
    before = (folder / WEIGHTS_NAME).read_bytes()

    def broken_save(state: dict, path: str, metadata: dict) -> None:
        Path(path).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(create_model("tiny-test"), folder)
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    assert (folder / WEIGHTS_NAME).read_bytes() == before


def test_create_model_reports_a_corrupt_safetensors_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\xff" * 100)
    with pytest.raises(CheckpointError, match=re.escape(f"{bad}: not a readable safetensors file")):
        create_model(checkpoint=bad)
