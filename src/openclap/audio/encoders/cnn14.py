"""PANNs Cnn14 exactly as in Kong et al. (2020) and CLAP 2022, so published weights load unchanged.

Key names (bn0, conv_block1..6, fc1, fc_audioset) follow the PANNs / msclap layout.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from openclap.audio.encoders.input_conv import InputConv2d


class ConvBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, reads_mel: bool = False) -> None:
        """``reads_mel``: conv1 reads the log-mel (``InputConv2d``: float32 accuracy under autocast)."""
        super().__init__()
        first = InputConv2d if reads_mel else nn.Conv2d
        self.conv1 = first(in_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, pool_size: tuple[int, int] = (2, 2)) -> torch.Tensor:
        x = F.relu_(self.bn1(self.conv1(x)))
        x = F.relu_(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, kernel_size=pool_size)


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
            setattr(self, f"conv_block{i + 1}", ConvBlock(widths[i], widths[i + 1], reads_mel=i == 0))
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
