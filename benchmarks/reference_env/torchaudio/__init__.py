"""A stand-in for torchaudio in the benchmark-only reference environment (torchaudio's registry builds do
not import with this torch): ``load`` through soundfile and ``transforms.Resample`` through soxr, the two
calls msclap's ``CLAPWrapper`` makes. Never part of openclap."""

from __future__ import annotations

import numpy as np
import soundfile as sf
import torch

from . import transforms  # noqa: F401

__version__ = "0.0-openclap-benchmark-shim"


def load(path: str) -> tuple[torch.Tensor, int]:
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # [N, C]
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(rate)
