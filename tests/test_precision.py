"""bf16 inference: autocast really runs the encoders in bf16, embeddings stay float32 and close to fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from openclap import ClapModel, create_model, embed_audio_files
from openclap.cli import main
from tests.helpers import noise, write


def _dtypes_seen(model: ClapModel, wave: torch.Tensor) -> dict[str, torch.dtype]:
    seen: dict[str, torch.dtype] = {}

    def record(name: str):  # type: ignore[no-untyped-def]
        def hook(_module: torch.nn.Module, _inputs: object, out: torch.Tensor) -> None:
            seen[name] = out.dtype

        return hook

    hooks = [
        module.register_forward_hook(record(name))
        for name, module in (("frontend", model.frontend), ("projection", model.audio_projection))
    ]
    with torch.inference_mode():
        emb = model.encode_audio(wave)
    for hook in hooks:
        hook.remove()
    seen["embedding"] = emb.dtype
    return seen


def test_bf16_runs_in_bf16_and_stays_close(tiny_checkpoint: Path) -> None:
    model = create_model(checkpoint=tiny_checkpoint, precision="bf16")
    assert model.precision == "bf16"
    wave = torch.from_numpy(np.stack([noise(16000, seed=i) for i in range(3)]))
    assert _dtypes_seen(model, wave) == {
        "frontend": torch.float32,
        "projection": torch.bfloat16,
        "embedding": torch.float32,
    }
    with torch.inference_mode():
        audio_bf16, text_bf16 = model.encode_audio(wave), model.encode_text(["dog", "rain on a roof"])
        model.set_precision("fp32")
        audio_fp32, text_fp32 = model.encode_audio(wave), model.encode_text(["dog", "rain on a roof"])
    assert _dtypes_seen(model, wave)["projection"] == torch.float32
    assert not torch.equal(audio_bf16, audio_fp32)
    for a, b in ((audio_bf16, audio_fp32), (text_bf16, text_fp32)):
        assert torch.nn.functional.cosine_similarity(a, b).min() > 0.99


def test_bad_precision_is_named() -> None:
    with pytest.raises(ValueError, match=r"precision='fp16' is not valid; choose one of \['fp32', 'bf16'\]"):
        create_model("tiny-test", precision="fp16")


def test_cli_embed_precision(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [str(write(tmp_path / f"{i}.wav", noise(16000, seed=i), 16000, "FLOAT")) for i in range(2)]
    out = tmp_path / "bf16.npz"
    assert (
        main(
            [
                "embed",
                *files,
                "--out",
                str(out),
                "--checkpoint",
                str(tiny_checkpoint),
                "--precision",
                "bf16",
                "--quiet",
            ]
        )
        == 0
    )
    model = create_model(checkpoint=tiny_checkpoint, precision="bf16")
    np.testing.assert_array_equal(np.load(out)["embeddings"], embed_audio_files(model, files).embeddings)
    with pytest.raises(SystemExit):
        main(["embed", *files, "--out", str(out), "--precision", "half"])
    assert "invalid choice: 'half'" in capsys.readouterr().err


def _input_conv_dtypes(encoder: torch.nn.Module, *inputs: torch.Tensor) -> tuple[set, set]:
    """Output dtypes of the encoder's ``InputConv2d`` layers and of its other convolutions, under bf16."""
    from openclap.audio.encoders.input_conv import InputConv2d

    first, other = set(), set()

    def hook(module: torch.nn.Module, _inputs: object, out: torch.Tensor) -> None:
        (first if isinstance(module, InputConv2d) else other).add(out.dtype)

    convs = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    handles = [m.register_forward_hook(hook) for m in convs]
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        encoder(*inputs)
    for handle in handles:
        handle.remove()
    return first, other


@pytest.mark.parametrize("family", ["small", "cnn14", "yamnet", "htsat", "htsat-fusion"])
def test_the_convolution_reading_the_log_mel_stays_float32_under_bf16(family: str) -> None:
    """bf16 rounding of the log-mel's small differences between neighbouring bins costs the most
    precision, so the one layer that reads it computes in float32; every other convolution is bf16."""
    from openclap.audio.encoders.cnn14 import Cnn14
    from openclap.audio.encoders.htsat import HTSAT
    from openclap.audio.encoders.small import SmallCnn
    from openclap.audio.encoders.yamnet import YamNet

    torch.manual_seed(0)
    mel = torch.randn(2, 64, 200)
    if family == "small":
        encoder, inputs = SmallCnn(channels=(8, 16), embed_dim=16, stem_stride=2), (mel,)
    elif family == "cnn14":
        encoder, inputs = Cnn14(embed_dim=32), (mel,)
    elif family == "yamnet":
        encoder, inputs = YamNet(), (mel,)
    else:
        fusion = family == "htsat-fusion"
        encoder = HTSAT(
            embed_dim=8, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), fusion=fusion, num_classes=5
        )
        mel4 = torch.randn(2, 4, 64, 1001)
        inputs = (mel4, torch.tensor([False, True])) if fusion else (mel4[:, 0],)
    first, other = _input_conv_dtypes(encoder.eval(), *inputs)
    assert first == {torch.float32}
    assert torch.bfloat16 in other
    from openclap.audio.encoders.input_conv import InputConv2d

    conv = next(m for m in encoder.modules() if isinstance(m, InputConv2d))
    x = torch.randn(1, 1, 24, 24)
    with torch.inference_mode():  # outside autocast it is a plain convolution
        plain = torch.nn.functional.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding)
        assert torch.equal(conv(x), plain)
