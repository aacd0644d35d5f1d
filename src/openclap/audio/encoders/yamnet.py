"""YAMNet in torch: its log-mel front end and MobileNetV1 on 0.96 s patches, with both heads.

YAMNet (M. Plakal and D. Ellis, Google, 2019; Apache-2.0) tags 0.96 s log-mel patches (hop 0.48 s) of
16 kHz audio with the 521 AudioSet classes and gives each patch a 1024-d embedding. This is a port of the
TensorFlow model: ``recipes/default_model/yamnet_export.py`` exports its weights once and
``openclap.convert.yamnet`` loads them; ``tests/audio/test_yamnet.py`` checks the outputs against
TensorFlow's on real clips. As an openclap audio encoder (``type: yamnet``, with the front end
``audio.frontend: yamnet``) it returns the mean of the patch embeddings of each clip.

```
wave [B, N] --zero-pad to whole patches, |rfft| of 25 ms frames, mel, ln(x + 0.001)--> [B, 64, T]
     --96-frame patches, hop 48--> [B * P, 1, 96, 64]
     --3x3 conv + 13 depthwise-separable blocks--> [B * P, 1024, 3, 2]
     --mean over time and mel--> embeddings [B, P, 1024] --dense, sigmoid--> scores [B, P, 521]
```
"""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from openclap import kernels
from openclap.audio.encoders.input_conv import InputConv2d
from openclap.config import AudioFrontendConfig

LOG_OFFSET = 0.001  # YAMNet's ln(mel + 0.001)
PATCH_FRAMES, PATCH_HOP_FRAMES = 96, 48  # 0.96 s patches, 0.48 s hop, at 100 frames/s
BN_EPS = 1e-4
# (stride, output channels) of the 14 layers: a full 3x3 convolution, then depthwise-separable blocks
LAYERS = (
    [(2, 32), (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512)]
    + [(1, 512)] * 5
    + [
        (2, 1024),
        (1, 1024),
    ]
)
NUM_CLASSES, EMBED_DIM = 521, 1024
# YAMNet's front end: 16 kHz, 25 ms frames every 10 ms, 512-point FFT, 64 mel bands 125-7500 Hz
YAMNET_FRONTEND = AudioFrontendConfig(
    frontend="yamnet",
    sample_rate=16000,
    clip_seconds=5.0,
    n_fft=512,
    win_length=400,
    hop_length=160,
    n_mels=64,
    f_min=125.0,
    f_max=7500.0,
    mel_scale="htk",
    mel_norm=None,
    pad="zero",
    crop="center",
    stft_dtype="float32",  # TensorFlow's precision; float64 made the front end 3.7x slower
)


# ----- front end ----------------------------------------------------------------------------------------
def tf_mel_matrix(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """``tf.signal.linear_to_mel_weight_matrix`` [n_fft // 2 + 1, n_mels] (float64): HTK mel
    ``1127 ln(1 + f / 700)``, triangles in mel with no area normalisation, the DC row zero."""

    def mel(freq: np.ndarray | float) -> np.ndarray:
        return 1127.0 * np.log1p(np.asarray(freq, dtype=np.float64) / 700.0)

    bins = mel(np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)[1:])[:, None]  # [F - 1, 1]
    edges = np.linspace(mel(f_min), mel(f_max), n_mels + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(
        0.0, np.minimum((bins - lower) / (center - lower), (upper - bins) / (upper - center))
    )
    return np.concatenate([np.zeros((1, n_mels)), weights])


def patch_samples(config: AudioFrontendConfig) -> tuple[int, int]:
    """Samples of one whole patch (its last frame complete) and of one patch hop."""
    first = (PATCH_FRAMES - 1) * config.hop_length + (config.win_length or config.n_fft)
    return first, PATCH_HOP_FRAMES * config.hop_length


def pad_to_patches(wave: torch.Tensor, config: AudioFrontendConfig) -> torch.Tensor:
    """[B, N] -> [B, N'] zero-padded at the end to at least one patch plus a whole number of patch hops
    (YAMNet's ``pad_waveform``), so that every patch is complete and the last one reaches the end."""
    return F.pad(wave, (0, padded_length(wave.shape[-1], config) - wave.shape[-1]))


def padded_length(n: int, config: AudioFrontendConfig) -> int:
    """The length ``pad_to_patches`` gives ``n`` samples."""
    first, hop = patch_samples(config)
    return first + hop * math.ceil(max(0, n - first) / hop)


class YamnetLogMel(nn.Module):
    """[B, N] waveform -> [B, n_mels, frames] natural-log mel magnitude, as YAMNet's TensorFlow graph.

    Frames of ``win_length`` samples every ``hop_length`` (no centring) times a periodic Hann window,
    zero-padded to ``n_fft`` for the FFT; magnitude (not power) through TensorFlow's HTK filterbank;
    ``ln(mel + 0.001)``. The waveform is first zero-padded to whole 0.96 s patches.
    """

    def __init__(self, config: AudioFrontendConfig) -> None:
        super().__init__()
        self.config = config
        self.win_length = config.win_length or config.n_fft
        dtype = torch.float64 if config.stft_dtype == "float64" else torch.float32
        f_max = config.f_max if config.f_max is not None else config.sample_rate / 2
        fb = tf_mel_matrix(config.sample_rate, config.n_fft, config.n_mels, config.f_min, f_max)
        window = torch.hann_window(self.win_length, periodic=True, dtype=dtype)
        self.register_buffer("window", window, persistent=False)
        # the window zero-padded to n_fft: frames of n_fft samples need no zero padding before the FFT
        fft_window = F.pad(window, (0, config.n_fft - self.win_length))
        self.register_buffer("fft_window", fft_window, persistent=False)
        self.register_buffer("mel_fb", torch.from_numpy(fb).to(dtype), persistent=False)

    #: compiled packages compute it with ``openclap.kernels``' one-pass spectrogram (``frame_rfft_mel``)
    native_kernels: ClassVar[bool] = True

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        dtype = torch.float32 if wave.device.type == "mps" else self.mel_fb.dtype
        if kernels.fusing() and kernels.spectrogram_fits(cfg.n_fft, dtype, wave.device):
            # a compiled package's trace: padding, frames, FFT, magnitude and mel in one native pass
            frames = (padded_length(wave.shape[-1], cfg) - self.win_length) // cfg.hop_length + 1
            spectrogram = torch.ops.openclap.frame_rfft_mel
            mel = spectrogram(wave.to(dtype), self.fft_window, self.mel_fb, cfg.hop_length, 1, frames)
            return torch.log(mel + LOG_OFFSET)  # [B, n_mels, frames] float32 from the op
        wave = F.pad(pad_to_patches(wave, cfg), (0, cfg.n_fft - self.win_length))  # room for n_fft frames
        frames = wave.to(dtype).unfold(-1, cfg.n_fft, cfg.hop_length)  # [B, T, n_fft], the same T frames
        spectrum = torch.fft.rfft(frames * self.fft_window.to(dtype))  # [B, T, F] complex
        if torch.compiler.is_compiling():  # fused into one pass; aten's complex abs is a kernel of its own
            magnitude = torch.view_as_real(spectrum).square().sum(-1).sqrt()  # (compiled: 1.06-1.08x)
        else:
            magnitude = spectrum.abs()
        mel = magnitude @ self.mel_fb.to(dtype)  # [B, T, n_mels]
        return torch.log(mel + LOG_OFFSET).transpose(1, 2).float()


# ----- network ------------------------------------------------------------------------------------------
def same_padding(size: int, stride: int, kernel: int = 3) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding of one axis, (before, after): the extra one of an odd total goes after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _same_pad(x: torch.Tensor, stride: int, kernel: int = 3) -> torch.Tensor:
    """``x`` [..., H, W] zero-padded as TensorFlow's 'SAME' (a separate pass over ``x``; training uses it)."""
    (top, bottom), (left, right) = (same_padding(size, stride, kernel) for size in x.shape[-2:])
    return F.pad(x, [left, right, top, bottom])  # F.pad lists the last dimension first


def same_as_conv_padding(
    weight: torch.Tensor, x: torch.Tensor, stride: int
) -> tuple[torch.Tensor, list[int]]:
    """TensorFlow's 'SAME' padding of ``x`` as the convolution's own symmetric zero padding: (weight,
    padding) for ``F.conv2d(x, weight, bias, stride, padding)``. Where 'SAME' pads one more row (column)
    after than before, the kernel gains a leading zero row (column) and the padding is the larger side:
    the output reads the same input samples, and no padded copy of ``x`` is written. (A compiled
    openclap-yamnet ran 1.27x faster in fp32 and 1.20x in bf16 without its five pad passes, the same
    outputs, docs/speed.md.)"""
    kernel = weight.shape[-2:]
    (top, bottom), (left, right) = (
        same_padding(size, stride, k) for size, k in zip(x.shape[-2:], kernel, strict=True)
    )
    # 0 or 1 leading zero rows / columns
    weight = F.pad(weight, [1 if right > left else 0, 0, 1 if bottom > top else 0, 0])
    return weight, [bottom, right]


def fold_batch_norm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The weight and bias of ``bn(conv(x))`` as one convolution (``bn`` in eval mode)."""
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    return conv.weight * scale.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * scale


# In a compiled graph on a CPU, a 1x1 convolution of at least this many input channels runs as a matrix
# product over the pixels: inductor's packed oneDNN linear beat its oneDNN convolution on YAMNet's maps of
# 64-1024 channels (channels-last, 40 patches, 2 threads, fp32 1.03-1.80x, bf16 1.02-1.76x; 1.5-1.8x on
# the 3 x 2 maps of the last layers), lost on the 32 -> 64 one (0.41x fp32) and lost eager (0.49-0.72x
# fp32: eager linear is a BLAS call), so eager keeps the convolution (docs/speed.md).
POINTWISE_AS_LINEAR_MIN_CHANNELS = 64


def _pointwise_as_linear(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    """Whether ``conv`` (a folded 1x1 convolution) runs as a linear on ``x``'s pixels; see above."""
    return (
        torch.compiler.is_compiling()
        and x.device.type == "cpu"
        and conv.kernel_size == (1, 1)
        and conv.stride == (1, 1)
        and conv.groups == 1
        and x.shape[1] >= POINTWISE_AS_LINEAR_MIN_CHANNELS
    )


def _conv_bn_relu(conv: nn.Conv2d, bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """``relu(bn(conv(x)))`` with 'SAME' padding (``conv.padding`` is the stride-1 case's; at stride 2
    the padding is TensorFlow's uneven one). At inference (``bn`` in eval mode) the batch norm is folded
    into the convolution's weight and bias and the padding into the convolution
    (``same_as_conv_padding``): one convolution with a bias, no separate normalisation or padding pass
    (and no casts around them under autocast)."""
    stride = conv.stride[0]
    if bn.training:
        return F.relu(bn(conv(x if stride == 1 else _same_pad(x, stride))))
    weight, bias = fold_batch_norm(conv, bn)
    padding = conv.padding
    # The pad pass stays for the ONNX export (its tracer loses a padded kernel's shape) and off the CPU
    # (measured on a CPU only: a GPU library may have no fast 4 x 4 depthwise kernel)
    if stride != 1 and (torch.onnx.is_in_onnx_export() or x.device.type != "cpu"):
        x = _same_pad(x, stride)
    elif stride != 1:
        weight, padding = same_as_conv_padding(weight, x, stride)
    if _pointwise_as_linear(conv, x):
        n, c, h, w = x.shape  # channels-last: [N, H, W, C] in memory, so the permute is a view
        y = F.linear(x.permute(0, 2, 3, 1).reshape(-1, c), weight.flatten(1), bias)
        return F.relu(y, inplace=True).reshape(n, h, w, -1).permute(0, 3, 1, 2)  # channels-last again
    if isinstance(conv, InputConv2d):
        y = conv.convolve(x, weight, bias, padding=padding)
    else:
        y = F.conv2d(x, weight, bias, conv.stride, padding, conv.dilation, conv.groups)
    return F.relu(y, inplace=True)


class _ConvBN(nn.Module):
    """3x3 convolution (full or depthwise, no bias) with 'SAME' padding, batch norm, ReLU. At stride 1
    'SAME' is one row / column each side, which the convolution pads itself; at stride 2 see
    ``_conv_bn_relu``."""

    def __init__(self, c_in: int, c_out: int, stride: int, depthwise: bool, reads_mel: bool = False) -> None:
        super().__init__()
        self.stride = stride
        conv = InputConv2d if reads_mel else nn.Conv2d
        padding = 1 if stride == 1 else 0
        self.conv = conv(c_in, c_out, 3, stride, padding, bias=False, groups=c_in if depthwise else 1)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _conv_bn_relu(self.conv, self.bn, x)


class _Separable(nn.Module):
    """Depthwise 3x3 (stride s) + BN + ReLU, then pointwise 1x1 + BN + ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.depthwise = _ConvBN(c_in, c_in, stride, depthwise=True)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.pointwise_bn = nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _conv_bn_relu(self.pointwise, self.pointwise_bn, self.depthwise(x))


class YamNet(nn.Module):
    """log-mel [B, 64, T] (``YamnetLogMel``, T >= 96) -> the mean patch embedding [B, 1024].

    ``patch_outputs`` gives YAMNet's own outputs per 0.96 s patch: sigmoid scores [B, P, 521] and
    embeddings [B, P, 1024]. The batch norms have no learned scale in YAMNet (their weight is 1).
    ``patch_hop``: frames between patches (YAMNet's 48; 96 halves the work of a clip, patches then abut).
    """

    #: Clips per forward pass on a CPU at inference (``ClapModel.cpu_chunk``). Compiled openclap-yamnet,
    #: batch 32, 2 threads, clips/s by chunk 16 / 8 / 4 (``benchmarks/chunk_size.py``): fp32 417.0 /
    #: 404.6 / 379.9 and 403.4 / 410.4 / 366.8 (a tie between 16 and 8), bf16 667.3 / 633.1 / 537.8.
    cpu_chunk: ClassVar[dict[str, int]] = {"fp32": 8, "bf16": 16}
    #: The same for the compiled package on one intra-op thread (``batch_threads``' batches side by
    #: side): two such calls of 8 fp32 clips outgrow the 32 MB L3 they share (80 patches' 48 x 32 maps:
    #: 15.7 MB at 32 channels, 31.5 MB at 64). Two 1-thread calls of 16 clips at once
    #: (``benchmarks/chunk_size.py openclap-yamnet PRECISION --side-by-side``), clips/s by chunk 16 / 8 /
    #: 4: fp32 467.1 / 462.6 / 517.0 (88 / 88 / 93 % of twice one call alone); bf16 826.5 / 840.2 /
    #: 878.5, 835.3 / 903.4 / 883.8, 825.2 / 826.4 / 859.2. Eager keeps ``cpu_chunk`` (``--eager``: fp32
    #: by 8 / 4 side by side 286.6 / 276.3, bf16 by 16 / 4 417.5 / 380.7).
    cpu_chunk_one_thread: ClassVar[dict[str, int]] = {"fp32": 4, "bf16": 4}
    #: Batches side by side on a CPU, each on one intra-op thread (``ClapModel.cpu_batches_side_by_side``):
    #: ``embed_audio_files`` of 400 ESC-50 clips, 2 threads, 1.03-1.20x files/s against one batch at a
    #: time over three runs of ``benchmarks/embed_files_speed.py --concurrent-batches 1 0 1 0`` (fp32 and
    #: bf16, eager and compiled; docs/speed.md "Batches side by side for the default model's files/s").
    #: Heavier encoders lose that way (Cnn14 fp32 0.67x, HTS-AT 0.95-0.98x): two batches' weights and
    #: activations outgrow the shared cache.
    cpu_batches_side_by_side: ClassVar[bool] = True

    def __init__(
        self, n_mels: int = 64, num_classes: int = NUM_CLASSES, patch_hop: int = PATCH_HOP_FRAMES
    ) -> None:
        super().__init__()
        if not 1 <= patch_hop <= PATCH_FRAMES:
            raise ValueError(f"patch_hop={patch_hop}: give 1 to {PATCH_FRAMES} log-mel frames")
        self.n_mels, self.out_dim, self.patch_hop = n_mels, EMBED_DIM, patch_hop
        blocks: list[nn.Module] = [_ConvBN(1, LAYERS[0][1], LAYERS[0][0], depthwise=False, reads_mel=True)]
        for (_, c_in), (stride, c_out) in itertools.pairwise(LAYERS):
            blocks.append(_Separable(c_in, c_out, stride))
        self.layers = nn.ModuleList(blocks)
        self.classifier = nn.Linear(EMBED_DIM, num_classes)

    def patches(self, mel: torch.Tensor) -> torch.Tensor:
        """[B, n_mels, T] -> [B, P, 96, n_mels]: every whole 96-frame patch, ``patch_hop`` frames apart."""
        if mel.shape[-1] < PATCH_FRAMES:
            raise ValueError(
                f"YAMNet needs at least {PATCH_FRAMES} log-mel frames (0.96 s), got {mel.shape[-1]}"
            )
        n_patches = (mel.shape[-1] - PATCH_FRAMES) // self.patch_hop + 1
        starts = torch.arange(n_patches, device=mel.device)[:, None] * self.patch_hop
        index = starts + torch.arange(PATCH_FRAMES, device=mel.device)[None, :]  # [P, 96]
        return mel.transpose(1, 2)[:, index]  # a gather rather than unfold: ONNX export needs it

    def patch_maps(self, mel: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """[B, n_mels, T] -> the output of ``layers[start:stop]`` for every patch, [B, P, C, H, W] (``start``
        > 0: ``mel`` is instead the input of ``layers[start]`` in that shape, as returned by an earlier
        call; this is how a caller runs the frozen lower layers once and the upper ones many times)."""
        if start == 0:
            patches = self.patches(mel)
            x = patches.reshape(-1, 1, PATCH_FRAMES, mel.shape[1])  # [B * P, 1, 96, n_mels]
            batch = patches.shape[:2]
        else:
            x, batch = mel.reshape(-1, *mel.shape[2:]), mel.shape[:2]
        # On a CPU, channels-last: oneDNN's depthwise and 1x1 convolutions run far faster this way (the
        # 32 -> 64 1x1 convolution 18x). A one-channel input is channels-last and contiguous at once, and
        # a convolution then keeps the contiguous layout: so each layer's input is made channels-last
        # (a copy before the second layer only; a no-op elsewhere). Off the CPU the layout is left as it
        # comes (not measured there).
        cpu = x.device.type == "cpu"
        for layer in self.layers[start:stop]:
            x = layer(x.contiguous(memory_format=torch.channels_last) if cpu else x)
        return x.reshape(*batch, *x.shape[1:])

    def patch_embeddings(self, mel: torch.Tensor) -> torch.Tensor:
        """[B, n_mels, T] -> embeddings [B, P, 1024] (global average of the last feature map)."""
        return self.patch_maps(mel).mean(dim=(-2, -1))

    def patch_outputs(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, n_mels, T] -> (scores [B, P, 521], embeddings [B, P, 1024]) as YAMNet's TensorFlow model."""
        embeddings = self.patch_embeddings(mel)
        return torch.sigmoid(self.classifier(embeddings)), embeddings

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.patch_embeddings(mel).mean(dim=1)

    @torch.no_grad()
    def round_to_bf16_(self) -> YamNet:
        """Fold each batch norm into its convolution and round the folded weights and biases to bf16
        values (kept in float32), in place; the batch norms become identities (scale 1, mean 0,
        ``var + eps`` exactly 1). The first convolution keeps its exact weight (it runs in split
        precision under autocast) and rounds its bias.

        Inference in float32 is then the same function of the same numbers as before the rounding, less
        the rounding, and bf16 autocast computes with exactly these weights: what remains between fp32 and
        bf16 is the rounding of the activations. In training mode a batch norm normalises with the batch's
        statistics, which now see the scaled outputs and an ``eps`` that weighs differently, so fine-tuning
        starts from another function: keep the batch norms in eval mode (``freeze.batchnorm`` in training,
        ``freeze_batchnorm`` in the fine-tuning protocol).
        """
        for conv, bn in self.conv_bn_pairs():
            weight, bias = fold_batch_norm(conv, bn)
            keep = isinstance(conv, InputConv2d)
            conv.weight.copy_(weight if keep else weight.to(torch.bfloat16).float())
            bn.bias.copy_(bias.to(torch.bfloat16).float())
            bn.weight.fill_(1.0)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
            if not bool(torch.all(bn.running_var + bn.eps == 1.0)):
                raise ArithmeticError(f"batch norm eps {bn.eps}: (1 - eps) + eps is not 1 in float32")
        return self

    def conv_bn_pairs(self) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
        """Every (convolution, batch norm) of the network in order: the first convolution, then each
        block's depthwise and pointwise ones (27)."""
        pairs: list[tuple[nn.Conv2d, nn.BatchNorm2d]] = []
        for block in self.layers:
            if isinstance(block, _ConvBN):
                pairs.append((block.conv, block.bn))
            else:
                pairs += [(block.depthwise.conv, block.depthwise.bn), (block.pointwise, block.pointwise_bn)]
        return pairs


class Yamnet(nn.Module):
    """YAMNet whole, as TensorFlow's model: mono 16 kHz waveform [N] or [B, N] -> per-patch ``scores``
    [(B,) P, 521] and ``embeddings`` [(B,) P, 1024] and the ``log_mel`` [(B,) T, 64] they came from.

    ``class_names`` are the 521 AudioSet display names in score order (``openclap.convert.yamnet``
    reads them from the export). Build it with ``openclap.convert.yamnet.load_yamnet``.
    """

    def __init__(
        self, frontend: AudioFrontendConfig = YAMNET_FRONTEND, class_names: list[str] | None = None
    ) -> None:
        super().__init__()
        self.frontend = YamnetLogMel(frontend)
        self.net = YamNet(n_mels=frontend.n_mels)
        self.class_names = list(class_names or [])

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batched = wave.dim() == 2
        mel = self.frontend(wave if batched else wave[None])  # [B, 64, T]
        scores, embeddings = self.net.patch_outputs(mel)
        outputs = (scores, embeddings, mel.transpose(1, 2))
        return outputs if batched else tuple(t[0] for t in outputs)  # type: ignore[return-value]
