"""The convolution that reads the log-mel computes in float32, also under bf16 / fp16 autocast.

Neighbouring log-mel bins differ by a small fraction of their value, and a first convolution mostly
computes such differences: rounding its input and weights to bf16 (8-bit mantissa) loses them, and that
one layer caused most of the bf16 deviation of the CNN towers (openclap-small's audio embeddings on the
13 AudioCaps-demo clips: min cosine to fp32 0.99980 with every layer in bf16, 0.99997 with this layer in
float32; ``benchmarks/precision_report.py``). Its cost is small: one input channel.
Outside autocast it is an ordinary ``nn.Conv2d`` (same parameters, same state-dict keys, same output).
"""

from __future__ import annotations

import torch
from torch import nn


class InputConv2d(nn.Conv2d):
    """``nn.Conv2d`` that runs in float32 under autocast (returns float32); unchanged otherwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        device = x.device.type
        if not torch.is_autocast_enabled(device):
            return super().forward(x)
        with torch.autocast(device_type=device, enabled=False):
            return super().forward(x.float())
