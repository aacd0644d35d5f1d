"""The recipe step that makes a YAMNet-towered checkpoint bf16-exact (recipes/default_model/bf16_exact.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from openclap import create_model
from openclap.checkpoint import read_metadata, save_checkpoint
from tests.helpers import load_recipe, noise
from tests.test_precision import _assert_bf16_exact, _is_bf16

recipe = load_recipe("bf16_exact")


def _run(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["bf16_exact.py", *args])
    recipe.main()


def test_writes_a_bf16_exact_checkpoint_whose_bf16_outputs_are_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(0)
    model = create_model("openclap-yamnet", pretrained=False, text=False).eval()
    with torch.no_grad():  # statistics of a trained tower, so that the folded weights are not bf16 values
        for _, bn in model.audio_encoder.conv_bn_pairs():
            bn.running_mean.normal_(0.0, 0.5)
            bn.running_var.uniform_(0.2, 3.0)
    save_checkpoint(model, tmp_path / "src", include_text=False, extra={"trained": {"epochs": 3}})
    out = tmp_path / "out.safetensors"
    _run(monkeypatch, str(tmp_path / "src" / "model.safetensors"), "--out", str(out))

    rounded = create_model(checkpoint=out, text=False).eval()
    _assert_bf16_exact(rounded.audio_encoder)
    for head in (rounded.audio_projection, rounded.text_projection):
        assert all(_is_bf16(p) for n, p in head.named_parameters() if "linear" in n)
    meta = read_metadata(out)
    assert meta["bf16_exact"] is True and meta["trained"] == {"epochs": 3}  # metadata kept
    wave = torch.from_numpy(noise(32000, seed=1, amplitude=0.3)).float()[None].repeat(2, 1)
    with torch.inference_mode():
        fp32 = (model.encode_audio(wave), rounded.encode_audio(wave))
        model.set_precision("bf16")
        rounded.set_precision("bf16")
        bf16 = (model.encode_audio(wave), rounded.encode_audio(wave))
    assert torch.equal(bf16[0], bf16[1])  # autocast rounded to exactly these numbers before
    assert float(torch.nn.functional.cosine_similarity(*fp32).min()) > 0.999


def test_refuses_a_checkpoint_without_a_yamnet_tower_and_a_missing_file(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.safetensors"
    with pytest.raises(SystemExit, match="not 'yamnet'"):
        _run(monkeypatch, str(tiny_checkpoint / "model.safetensors"), "--out", str(out))
    assert not out.exists()
    with pytest.raises(SystemExit):
        _run(monkeypatch, str(tmp_path / "missing.safetensors"), "--out", str(out))
    assert "no such file" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SystemExit):  # an unwritable --out is named before any work
        _run(monkeypatch, str(tiny_checkpoint / "model.safetensors"), "--out", str(blocker / "x.safetensors"))
    assert "is a file, not a folder" in capsys.readouterr().err
