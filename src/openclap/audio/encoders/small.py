"""A small, fast CPU audio encoder for models trained here.

Stages of 3x3 conv-BN-ReLU blocks with 2x2 average pooling, then mean over frequency and
max + mean over time (as Cnn14), then a linear layer. About 1M parameters at the default widths.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openclap.audio.encoders.input_conv import InputConv2d


class _Stage(nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, convs: int, stride: int = 1, reads_mel: bool = False
    ) -> None:
        """``reads_mel``: the stage's first convolution reads the log-mel (``InputConv2d``)."""
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(convs):
            first = i == 0
            conv = InputConv2d if first and reads_mel else nn.Conv2d
            layers += [
                conv(
                    in_channels if first else out_channels,
                    out_channels,
                    3,
                    stride=stride if first else 1,
                    padding=1,
                    bias=False,
                ),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.body(x), kernel_size=2, ceil_mode=True)


class SmallCnn(nn.Module):
    """log-mel [B, n_mels, T] -> [B, embed_dim]."""

    def __init__(
        self,
        n_mels: int = 64,
        channels: tuple[int, ...] | list[int] = (32, 64, 128, 256),
        convs_per_stage: int = 1,
        embed_dim: int = 512,
        dropout: float = 0.1,
        stem_stride: int = 1,
    ) -> None:
        """``stem_stride`` > 1 strides the first convolution (time and frequency), which divides the
        cost of every later stage by its square: the cheap option for fast CPU inference."""
        super().__init__()
        self.out_dim = embed_dim
        self.bn0 = nn.BatchNorm2d(n_mels)
        widths = [1, *channels]
        self.stages = nn.ModuleList(
            _Stage(widths[i], widths[i + 1], convs_per_stage, stem_stride if i == 0 else 1, reads_mel=i == 0)
            for i in range(len(channels))
        )
        self.dropout = dropout
        self.fc = nn.Linear(widths[-1], embed_dim)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = mel.transpose(1, 2).unsqueeze(1)  # [B, 1, T, n_mels]
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        for stage in self.stages:
            x = stage(x)
        x = x.mean(dim=3)  # [B, C, T']
        x = x.amax(dim=2) + x.mean(dim=2)  # [B, C]
        x = F.dropout(x, p=self.dropout, training=self.training)
        return F.relu(self.fc(x))
