"""The convolution that reads the log-mel keeps float32 accuracy under bf16 / fp16 autocast.

Neighbouring log-mel bins differ by a small fraction of their value, and a first convolution mostly
computes such differences: rounding its input and weights to bf16 (8-bit mantissa) loses them, and that
one layer caused most of the bf16 deviation of the CNN towers (openclap-small's audio embeddings on the
13 AudioCaps-demo clips: min cosine to fp32 0.99980 with every layer in bf16, 0.99998 with this layer
exact; ``benchmarks/precision_report.py``).

Under autocast the layer splits input and weights into a bf16 head and a bf16 remainder
(``x = x_hi + x_lo``, ``w = w_hi + w_lo``) and computes ``x_hi*w_hi + x_hi*w_lo + x_lo*w_hi`` as one bf16
convolution over three times the input channels (the dropped ``x_lo*w_lo`` is ~2^-16 relative): float32
accuracy at bf16 speed. The first convolution has one input channel, so the extra work is small; computing
it in float32 instead cost openclap-small 21 % of its bf16 throughput, this costs about 1 %. The output is
in the autocast dtype, as any autocast convolution's. Outside autocast this is an ordinary ``nn.Conv2d``
(same parameters, same state-dict keys, same output).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _split(t: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``t`` (float32) as ``hi + lo``, both in ``dtype``."""
    hi = t.to(dtype)
    return hi, (t - hi.float()).to(dtype)


class InputConv2d(nn.Conv2d):
    """``nn.Conv2d`` with float32 accuracy under autocast (split-precision products); unchanged otherwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convolve(x, self.weight, self.bias)

    def convolve(
        self,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        padding: str | int | tuple[int, ...] | list[int] | None = None,
    ) -> torch.Tensor:
        """This layer's convolution (stride, padding, groups) with ``weight`` and ``bias`` in place of its
        own, e.g. with a batch norm folded in, and ``padding`` (zeros) in place of its own where given;
        split-precision under autocast as ``forward``."""
        device = x.device.type
        if padding is not None and self.padding_mode != "zeros":
            raise ValueError(f"padding= gives zero padding; this layer pads with {self.padding_mode!r}")
        if not torch.is_autocast_enabled(device) or self.groups != 1 or self.padding_mode != "zeros":
            if padding is None:
                return self._conv_forward(x, weight, bias)
            return F.conv2d(x, weight, bias, self.stride, padding, self.dilation, self.groups)
        padding = self.padding if padding is None else padding
        dtype = torch.get_autocast_dtype(device)
        with torch.autocast(device_type=device, enabled=False):
            x_hi, x_lo = _split(x.float(), dtype)
            w_hi, w_lo = _split(weight.float(), dtype)
            bias = None if bias is None else bias.to(dtype)
            return F.conv2d(
                torch.cat([x_hi, x_hi, x_lo], dim=1),
                torch.cat([w_hi, w_lo, w_hi], dim=1),
                bias,
                self.stride,
                padding,
                self.dilation,
            )
