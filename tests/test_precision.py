"""bf16 inference: autocast really runs the encoders in bf16, embeddings stay float32 and close to fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from openclap import ClapModel, create_model, embed_audio_files
from openclap.audio.encoders.yamnet import fold_batch_norm
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


def _first_conv(encoder: torch.nn.Module, *inputs: torch.Tensor) -> torch.nn.Module:
    """The first convolution the encoder's forward calls."""
    called: list[torch.nn.Module] = []
    convs = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    handles = [m.register_forward_hook(lambda mod, _i, _o: called.append(mod)) for m in convs]
    with torch.inference_mode():
        encoder(*inputs)
    for handle in handles:
        handle.remove()
    return called[0]


@pytest.mark.parametrize("family", ["small", "cnn14", "yamnet", "htsat", "htsat-fusion"])
def test_the_convolution_reading_the_log_mel_is_an_input_conv(
    family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openclap.audio.encoders.cnn14 import Cnn14
    from openclap.audio.encoders.htsat import HTSAT
    from openclap.audio.encoders.input_conv import InputConv2d
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
    if family == "yamnet":  # in eval mode its batch norms fold into functional convolutions (no hooks)
        called: list[torch.nn.Module] = []
        convolve = InputConv2d.convolve
        spy = lambda self, *a, **kw: called.append(self) or convolve(self, *a, **kw)  # noqa: E731
        monkeypatch.setattr(InputConv2d, "convolve", spy)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            encoder.eval()(*inputs)
        assert called == [encoder.layers[0].conv]  # the first layer, split-precision, and only it
    else:
        assert isinstance(_first_conv(encoder.eval(), *inputs), InputConv2d)
    if family == "htsat-fusion":  # both of the fusion patch embeddings read the log-mel
        assert isinstance(encoder.patch_embed.mel_conv2d, InputConv2d)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = encoder(*inputs)  # the whole tower runs under autocast with it
    assert torch.isfinite(out).all()


def test_input_conv_keeps_float32_accuracy_under_bf16() -> None:
    """A difference kernel on a real clip's log-mel (values far from 0, small differences): a plain bf16
    convolution loses much of the answer; the split-precision one is as close to float32 as bf16 can
    hold the answer at all (the float32 result rounded to bf16)."""
    from openclap.audio.encoders.input_conv import InputConv2d
    from openclap.audio.frontend import build_frontend
    from openclap.config import AudioFrontendConfig

    clip = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "audio" / "0_george_0.flac"
    if not clip.is_file():
        pytest.skip(f"{clip} is absent")
    wave, rate = sf.read(clip, dtype="float32")
    cfg = AudioFrontendConfig(sample_rate=rate, n_fft=256, hop_length=80, n_mels=32, f_min=50.0, f_max=4000.0)
    mel = build_frontend(cfg)(torch.from_numpy(wave)[None])[:, None]  # [1, 1, n_mels, T], log-mel
    conv = InputConv2d(1, 2, 3, padding=1, bias=False)
    plain = torch.nn.Conv2d(1, 2, 3, padding=1, bias=False)
    laplace = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    with torch.no_grad():
        conv.weight.copy_(torch.stack([laplace, laplace.T * 0.3 + 0.01])[:, None])
        plain.weight.copy_(conv.weight)
        exact = conv(mel)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            split, rounded = conv(mel), plain(mel)
    assert split.dtype == torch.bfloat16  # handed on in the autocast dtype

    def error(t: torch.Tensor) -> float:
        return float((t.float() - exact).abs().mean())

    floor = error(exact.to(torch.bfloat16))  # rounding the exact answer to bf16
    assert error(split) < 1.5 * floor
    assert error(rounded) > 4 * floor


def test_bf16_runs_a_float64_front_end_in_float32_and_fp32_keeps_it() -> None:
    """``set_precision("bf16")`` switches a dB front end's float64 STFT to float32 (its rounding is far
    below bf16's); back to fp32 restores float64, so fp32 embeddings are unchanged."""
    torch.manual_seed(0)
    model = create_model("msclap-2023", pretrained=False, text=False)
    assert model.config.audio.stft_dtype == "float64"
    wave = 0.1 * torch.randn(2, 44100)
    spectra: list[torch.dtype] = []
    real = model.frontend.power_frames

    def record(x: torch.Tensor) -> torch.Tensor:
        out = real(x)
        spectra.append(out.dtype)
        return out

    model.frontend.power_frames = record  # type: ignore[method-assign]
    with torch.inference_mode():
        exact = model.frontend(wave)
        model.set_precision("bf16")
        reduced = model.frontend(wave)
        model.set_precision("fp32")
        again = model.frontend(wave)
    assert spectra == [torch.float64, torch.float32, torch.float64]
    torch.testing.assert_close(again, exact, rtol=0, atol=0)
    assert (reduced - exact).abs().max() < 0.05  # dB: float32 rounding in the weakest bins
    assert reduced.dtype == exact.dtype == torch.float32


def _is_bf16(t: torch.Tensor) -> bool:
    return torch.equal(t, t.to(torch.bfloat16).float())


def _assert_bf16_exact(net: torch.nn.Module) -> None:
    from openclap.audio.encoders.input_conv import InputConv2d

    pairs = net.conv_bn_pairs()
    assert len(pairs) == 27  # the first convolution + 13 depthwise-separable blocks
    for conv, bn in pairs:
        weight, bias = fold_batch_norm(conv, bn)  # what inference computes
        assert _is_bf16(bias), conv
        assert isinstance(conv, InputConv2d) or _is_bf16(weight), conv


def test_yamnet_rounded_to_bf16_computes_bf16_bit_for_bit_and_fp32_within_the_rounding() -> None:
    from openclap.audio.encoders.yamnet import YamNet

    torch.manual_seed(0)
    net = YamNet().eval()
    with torch.no_grad():  # batch-norm statistics of a trained net, not the identity of a fresh one
        for _, bn in net.conv_bn_pairs():
            bn.running_mean.normal_(0.0, 0.5)
            bn.running_var.uniform_(0.2, 3.0)
            bn.bias.normal_(0.0, 0.3)
    mel = torch.randn(2, 64, 120) * 3.0
    with torch.inference_mode():
        fp32_before = net(mel)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16_before = net(mel)
    assert not _is_bf16(fold_batch_norm(*net.conv_bn_pairs()[1])[0])  # folded weights not bf16 values yet
    net.round_to_bf16_()
    _assert_bf16_exact(net)
    for _, bn in net.conv_bn_pairs():  # identity batch norms
        assert torch.all(bn.weight == 1) and torch.all(bn.running_mean == 0)
        assert torch.all(bn.running_var + bn.eps == 1)
    with torch.inference_mode():
        fp32_after = net(mel)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16_after = net(mel)
    # autocast rounded exactly these weights and biases before: the same numbers, the same outputs
    assert torch.equal(bf16_after, bf16_before)
    cos = torch.nn.functional.cosine_similarity(fp32_after, fp32_before, dim=-1)
    assert float(cos.min()) > 0.999 and not torch.equal(fp32_after, fp32_before)
    # and fp32 now lies closer to bf16 than it did before the rounding
    err = lambda a, b: float((a.float() - b).norm() / b.norm())  # noqa: E731
    assert err(bf16_after, fp32_after) < err(bf16_before, fp32_before)


def test_the_shipped_default_model_is_bf16_exact() -> None:
    from openclap.factory import has_trained_weights

    if not has_trained_weights("openclap-yamnet"):
        pytest.skip("needs the bundled default model")
    model = create_model("openclap-yamnet", text=False)
    _assert_bf16_exact(model.audio_encoder)
    for head in (model.audio_projection, model.text_projection):
        for linear in head.modules():
            if isinstance(linear, torch.nn.Linear):
                assert _is_bf16(linear.weight)
                assert linear.bias is None or _is_bf16(linear.bias)
