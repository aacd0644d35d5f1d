"""PANNs Cnn14 exactly as in Kong et al. (2020) and CLAP 2022, so published weights load unchanged.

Key names (bn0, conv_block1..6, fc1, fc_audioset) follow the PANNs / msclap layout.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from openclap.audio.encoders.input_conv import InputConv2d

#: Blocks whose convolutions run on channels-last (NHWC) tensors on a CPU: oneDNN's NHWC kernels ran
#: Cnn14's 64- to 512-channel convolutions 1.2-1.7x faster than on NCHW tensors here, and its 1024- and
#: 2048-channel ones (blocks 5 and 6, a few time-frequency cells each) 1.0-2.1x slower
#: (docs/speed.md, "Cnn14 on channels-last tensors, and its last convolutions as products").
CHANNELS_LAST_BLOCKS = 4
#: Compiled on a CPU, convolutions reading this many channels or more run as one matrix product over the
#: unfolded 3 x 3 neighbourhoods (``conv3x3_as_product``): inductor gives every convolution channels-last
#: tensors, and oneDNN's channels-last kernels ran Cnn14's last three convolutions (2 x 21 and 4 x 43
#: time-frequency cells) at 127-253 GFLOP/s against 300-337 as products. Eager keeps the direct
#: convolution (NCHW there: 232-385 GFLOP/s, and no folded weight to reuse).
PRODUCT_MIN_CHANNELS = 1024


def conv3x3_as_product(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A 3 x 3 convolution, stride 1, zero padding 1, no bias, as one matrix product: each output cell's
    3 x 3 x C input neighbourhood unfolded into a row (im2col, in (row, column, channel) order, which
    copies whole channel vectors from a channels-last input), times the weight as [C_out, 9 x C].
    The same values as ``F.conv2d`` up to the order of float additions; the result is a channels-last
    [B, C_out, H, W] view. Meant for compiled graphs, where the weight's reordering is folded once."""
    b, c, h, w = x.shape
    padded = F.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1)  # [B, H + 2, W + 2, C]
    cells = [padded[:, i : i + h, j : j + w] for i in range(3) for j in range(3)]
    rows = torch.stack(cells, dim=3).reshape(b * h * w, 9 * c)
    out = F.linear(rows, weight.permute(0, 2, 3, 1).reshape(weight.shape[0], 9 * c))
    return out.view(b, h, w, -1).permute(0, 3, 1, 2)


class ConvBlock(nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, reads_mel: bool = False, channels_last: bool = False
    ) -> None:
        """``reads_mel``: conv1 reads the log-mel (``InputConv2d``: float32 accuracy under autocast).
        ``channels_last``: on a CPU, the convolutions read channels-last tensors (faster for this block's
        shapes; the values are the same up to the order of float additions)."""
        super().__init__()
        self.channels_last = channels_last
        first = InputConv2d if reads_mel else nn.Conv2d
        self.conv1 = first(in_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, pool_size: tuple[int, int] = (2, 2)) -> torch.Tensor:
        x = F.relu_(self.bn1(self._conv(self.conv1, self._layout(x))))
        x = F.relu_(self.bn2(self._conv(self.conv2, self._layout(x))))
        return F.avg_pool2d(x, kernel_size=pool_size)

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        """On a CPU, this block's memory layout (other devices keep theirs)."""
        if x.device.type != "cpu":
            return x
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        return x.contiguous(memory_format=layout)

    @staticmethod
    def _conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        if (
            conv.in_channels >= PRODUCT_MIN_CHANNELS
            and type(conv) is nn.Conv2d
            and torch.compiler.is_compiling()
            and x.device.type == "cpu"
            and not torch.is_grad_enabled()
        ):
            return conv3x3_as_product(x, conv.weight)
        return conv(x)


class Cnn14(nn.Module):
    """log-mel [B, n_mels, T] -> embedding [B, 2048] (``relu(fc1(max_t + mean_t))``)."""

    #: Clips per forward pass on a CPU at inference (``ClapModel.cpu_chunk``): the convolutions run at
    #: much the same rate for any chunk of 4 to 16 clips. Compiled msclap-2022, batch 32, 2 threads,
    #: clips/s by chunk 16 / 8 / 4 (``benchmarks/chunk_size.py``): fp32 10.9 / 10.7 / 10.0, bf16 20.4 /
    #: 19.8 / 18.3.
    cpu_chunk: ClassVar[dict[str, int]] = {"fp32": 16, "bf16": 16}

    def __init__(self, n_mels: int = 64, embed_dim: int = 2048, classes_num: int = 527) -> None:
        super().__init__()
        self.out_dim = embed_dim
        self.bn0 = nn.BatchNorm2d(n_mels)
        widths = [1, 64, 128, 256, 512, 1024, 2048]
        for i in range(6):
            nhwc = i < CHANNELS_LAST_BLOCKS
            block = ConvBlock(widths[i], widths[i + 1], reads_mel=i == 0, channels_last=nhwc)
            setattr(self, f"conv_block{i + 1}", block)
        self.fc1 = nn.Linear(2048, embed_dim, bias=True)
        self.fc_audioset = nn.Linear(embed_dim, classes_num, bias=True)

    def features(self, mel: torch.Tensor) -> torch.Tensor:
        x = mel.transpose(1, 2).unsqueeze(1)  # [B, 1, T, n_mels]
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)  # BatchNorm over the mel bins
        for i in range(1, 7):
            block = getattr(self, f"conv_block{i}")
            x = block(x, pool_size=(2, 2) if i < 6 else (1, 1))
            x = F.dropout(x, p=0.2, training=self.training)
        x = x.mean(dim=3)  # [B, 2048, T'] mean over frequency
        x = x.amax(dim=2) + x.mean(dim=2)  # [B, 2048]
        x = F.dropout(x, p=0.5, training=self.training)
        return F.relu_(self.fc1(x))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return F.dropout(self.features(mel), p=0.5, training=self.training)

    def clipwise(self, mel: torch.Tensor) -> torch.Tensor:
        """The AudioSet tagging head (sigmoid over 527 classes) of the PANNs checkpoint."""
        return torch.sigmoid(self.fc_audioset(self.features(mel)))
