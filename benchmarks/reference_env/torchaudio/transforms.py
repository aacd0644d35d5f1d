"""``Resample`` for the reference environment's torchaudio stand-in (soxr, VHQ)."""

from __future__ import annotations

import numpy as np
import soxr
import torch


class Resample(torch.nn.Module):
    def __init__(self, orig_freq: int, new_freq: int) -> None:
        super().__init__()
        self.orig_freq, self.new_freq = int(orig_freq), int(new_freq)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # [C, N]
        out = soxr.resample(wave.numpy().T, self.orig_freq, self.new_freq, quality="VHQ")
        return torch.from_numpy(np.ascontiguousarray(np.atleast_2d(out.T)))
