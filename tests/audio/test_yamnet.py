"""The torch port of YAMNet against TensorFlow's own outputs on real clips.

``tests/fixtures/yamnet_tf.npz`` holds three short real clips (FSDD, Philharmonia, AudioCaps-demo; 16 kHz
inputs exactly as fed to TensorFlow) and the SavedModel's outputs on them, written by
``recipes/default_model/yamnet_export.py --fixture``. The front end needs no weights and always runs; the
network needs the exported ``yamnet.safetensors`` (not committed) named by ``OPENCLAP_YAMNET``.

Tolerances (float32 in TensorFlow, float64 STFT here): log-mel 2e-3 (measured max 6.8e-4 over 49 real
clips, in bins near the ln(0.001) floor where TensorFlow's float32 FFT rounding shows), scores 2e-4 and
embeddings 5e-4 (measured 2.9e-5 and 7.4e-5).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from openclap import ClapModel
from openclap.audio.encoders.yamnet import (
    YAMNET_FRONTEND,
    YamNet,
    YamnetLogMel,
    _same_pad,
    same_as_conv_padding,
)
from openclap.convert import load_published
from openclap.convert.common import ConversionError
from openclap.convert.yamnet import load_yamnet, torch_name, yamnet_state
from openclap.registry import get_config

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "yamnet_tf.npz"
WEIGHTS = os.environ.get("OPENCLAP_YAMNET")
LOG_MEL_ATOL, SCORES_ATOL, EMBEDDINGS_ATOL = 2e-3, 2e-4, 5e-4


def _clips() -> list[dict[str, np.ndarray]]:
    with np.load(FIXTURE) as z:
        return [
            {k: z[f"{i}/{k}"] for k in ("wave", "scores", "embeddings", "log_mel")}
            for i in range(len(z["files"]))
        ]


def test_front_end_matches_tensorflow_log_mel_and_patch_count() -> None:
    frontend = YamnetLogMel(YAMNET_FRONTEND)
    for clip in _clips():
        with torch.inference_mode():
            mel = frontend(torch.from_numpy(clip["wave"])[None])[0].T.numpy()  # [T, 64]
        assert mel.shape == clip["log_mel"].shape
        assert np.abs(mel - clip["log_mel"]).max() < LOG_MEL_ATOL
        patches = YamNet().patches(torch.from_numpy(mel.T)[None])
        assert patches.shape[1] == len(clip["scores"])  # the same 0.96 s patches as TensorFlow


def test_same_padding_puts_the_odd_row_after_as_tensorflow() -> None:
    x = torch.arange(4.0 * 6).view(1, 1, 4, 6)
    padded = _same_pad(x, stride=2)  # TF: total 1 per axis -> 0 before, 1 after
    assert padded.shape == (1, 1, 5, 7) and torch.equal(padded[..., :4, :6], x)
    assert _same_pad(x, stride=1).shape == (1, 1, 6, 8)  # total 2 -> 1 and 1


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_same_padding_as_the_convolutions_own_equals_the_pad_pass(stride: int) -> None:
    g = torch.Generator().manual_seed(stride)
    for h, w in [(96, 64), (7, 5), (6, 1), (1, 4), (3, 8)]:  # even and odd: totals 0, 1 and 2
        x = torch.randn(2, 4, h, w, generator=g, dtype=torch.float64)
        weight = torch.randn(4, 1, 3, 3, generator=g, dtype=torch.float64)  # depthwise, as YAMNet's
        expected = F.conv2d(_same_pad(x, stride), weight, None, stride, 0, 1, 4)
        kernel, padding = same_as_conv_padding(weight, x, stride)
        got = F.conv2d(x, kernel, None, stride, padding, 1, 4)
        assert got.shape == expected.shape
        assert torch.allclose(got, expected, rtol=0, atol=1e-12)


def test_inference_layers_equal_the_training_form_with_its_pad_passes() -> None:
    torch.manual_seed(0)
    net = YamNet().eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 2.0)
                module.bias.normal_(0, 0.1)
    x = torch.randn(3, 1, 96, 64)

    def conv_bn_relu(conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d, y: torch.Tensor) -> torch.Tensor:
        stride = conv.stride[0]  # the pad pass, then the module's own convolution and batch norm
        return F.relu(bn(conv(y if stride == 1 else _same_pad(y, stride))))

    with torch.inference_mode():
        expected = x
        for layer in net.layers:
            if hasattr(layer, "pointwise"):
                expected = conv_bn_relu(layer.depthwise.conv, layer.depthwise.bn, expected)
                expected = conv_bn_relu(layer.pointwise, layer.pointwise_bn, expected)
            else:
                expected = conv_bn_relu(layer.conv, layer.bn, expected)
        got = net.patch_maps(x.view(3, 96, 64).transpose(1, 2))  # [B, 1 patch, C, H, W]
    assert got.shape[2:] == expected.shape[1:] == (1024, 3, 2)
    assert torch.allclose(got[:, 0], expected, rtol=1e-5, atol=1e-5)


def _tf_shaped(net: YamNet) -> dict[str, torch.Tensor]:
    """Seeded random tensors under every TensorFlow name and layout that an export holds (kernels scaled
    by 1 / sqrt(fan-in), so that activations stay finite through the 14 layers)."""
    torch.manual_seed(0)
    out = {"dense/kernel": torch.randn(1024, 521) / 32, "dense/bias": torch.randn(521)}
    for i, layer in enumerate(net.layers, start=1):
        if i == 1:
            out["layer1/conv/kernel"] = torch.randn(3, 3, 1, 32) / 3
            parts = {"conv": 32}
        else:
            c_in, c_out = layer.pointwise.in_channels, layer.pointwise.out_channels
            out[f"layer{i}/depthwise_conv/depthwise_kernel"] = torch.randn(3, 3, c_in, 1) / 3
            out[f"layer{i}/pointwise_conv/kernel"] = torch.randn(1, 1, c_in, c_out) / c_in**0.5
            parts = {"depthwise_conv": c_in, "pointwise_conv": c_out}
        for part, width in parts.items():
            for leaf in ("beta", "moving_mean", "moving_variance"):
                out[f"layer{i}/{part}/bn/{leaf}"] = torch.rand(width) + 0.5
    return out


def test_key_map_fills_every_parameter_of_the_port_in_torch_layout() -> None:
    net = YamNet()
    tensors = _tf_shaped(net)
    assert len(tensors) == 110 and sum(t.numel() for t in tensors.values()) == 3_751_369  # as the SavedModel
    state = yamnet_state(tensors, "test")
    assert set(state) == set(net.state_dict())
    net.load_state_dict(state, strict=True)
    depthwise = tensors["layer2/depthwise_conv/depthwise_kernel"][..., 0].permute(2, 0, 1)  # [C, 3, 3]
    assert torch.equal(net.layers[1].depthwise.conv.weight[:, 0], depthwise)
    assert torch.equal(net.classifier.weight, tensors["dense/kernel"].T)
    assert torch_name("layer3/pointwise_conv/bn/beta") == ("layers.2.pointwise_bn.bias", None)
    with pytest.raises(ConversionError, match="keys that are not YAMNet's: layer3/extra/kernel"):
        yamnet_state({**tensors, "layer3/extra/kernel": torch.zeros(1)}, "test")


def test_load_yamnet_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match=r"nothing\.safetensors: file not found"):
        load_yamnet(tmp_path / "nothing.safetensors")
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(ConversionError, match=r"other\.safetensors: not a YAMNet export"):
        load_yamnet(other)
    (tmp_path / "bad.safetensors").write_bytes(b"not safetensors")
    for load in (load_yamnet, load_published):  # the library loader and `openclap convert`'s
        with pytest.raises(ConversionError, match=r"bad\.safetensors: not a readable safetensors file"):
            load(tmp_path / "bad.safetensors")


def test_yamnet_export_converts_into_the_registered_clap_model_and_embeds(tmp_path: Path) -> None:
    config = get_config("yamnet-minilm")
    assert config.audio == dataclasses.replace(YAMNET_FRONTEND, pad="repeat")  # the port's own settings
    tensors = _tf_shaped(YamNet())
    frontend = YamnetLogMel(YAMNET_FRONTEND)
    tensors.update(
        {"frontend/window": frontend.window.float(), "frontend/mel_matrix": frontend.mel_fb.float()}
    )
    path = tmp_path / "yamnet.safetensors"
    save_file(tensors, str(path))
    # a small text tower, and 1.5 s clips (3 patches) to keep the test fast
    audio = dataclasses.replace(config.audio, clip_seconds=1.5)
    config = config.replace(audio=audio, text_encoder=get_config("tiny-test").text_encoder)
    model = load_published(path, config=config)
    assert isinstance(model, ClapModel) and isinstance(model.frontend, YamnetLogMel)
    assert torch.equal(model.audio_encoder.classifier.weight, tensors["dense/kernel"].T)
    wave = torch.from_numpy(_clips()[2]["wave"])
    with torch.inference_mode():
        batch = model.prepare_waveforms([wave, wave[:8000]])  # 1.5 s each (the second repeat-padded)
        features = model.audio_features(batch)
        emb = torch.nn.functional.normalize(model.audio_projection(features), dim=-1)
    assert features.shape == (2, 1024) and emb.shape == (2, 512)
    with torch.inference_mode():
        assert torch.allclose(model.encode_audio(batch[:1]), emb[:1], atol=1e-6)
    save_file({**tensors, "frontend/window": torch.ones(400)}, str(path))
    with pytest.raises(ConversionError, match="frontend/window differs from openclap's"):
        load_published(path, config=config)


@pytest.mark.skipif(
    WEIGHTS is None,
    reason="set OPENCLAP_YAMNET to the yamnet.safetensors that "
    "recipes/default_model/yamnet_export.py writes (TensorFlow step, not run in CI)",
)
def test_port_matches_tensorflow_scores_and_embeddings() -> None:
    model = load_yamnet(WEIGHTS)
    assert len(model.class_names) == 521 and model.class_names[0] == "Speech"
    for clip in _clips():
        with torch.inference_mode():
            scores, embeddings, log_mel = model(torch.from_numpy(clip["wave"]))
        assert scores.shape == clip["scores"].shape and embeddings.shape == clip["embeddings"].shape
        assert np.abs(log_mel.numpy() - clip["log_mel"]).max() < LOG_MEL_ATOL
        assert np.abs(scores.numpy() - clip["scores"]).max() < SCORES_ATOL
        assert np.abs(embeddings.numpy() - clip["embeddings"]).max() < EMBEDDINGS_ATOL


def test_every_layer_after_the_first_reads_channels_last() -> None:
    """oneDNN's 1x1 and depthwise convolutions are many times faster on channels-last tensors; a
    one-channel input is both layouts at once, so without the conversion after each layer the whole
    network had run NCHW (eager fp32 1.25x, bf16 1.54x slower)."""
    net = YamNet().eval()
    layouts: list[bool] = []
    for layer in net.layers:
        layer.register_forward_pre_hook(
            lambda module, args: layouts.append(
                args[0].is_contiguous(memory_format=torch.channels_last) and not args[0].is_contiguous()
            )
        )
    with torch.inference_mode():
        net(torch.randn(2, 64, 144))
    assert len(layouts) == len(net.layers) and all(layouts[1:])
