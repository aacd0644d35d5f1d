"""Fit waveforms to the model's clip length and cut long audio into windows.

Inference crops are deterministic (start or centre); training crops draw from a seeded generator.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from openclap.config import AudioFrontendConfig


def fit_length(
    wave: torch.Tensor,
    num_samples: int,
    pad: str = "repeat",
    crop: str = "start",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Return ``wave[..., :num_samples]`` padded or cropped to exactly ``num_samples``.

    pad: ``repeat`` tiles the clip then cuts (msclap), ``repeatpad`` tiles whole copies then zero-pads
    (LAION), ``zero`` zero-pads. crop: ``start``, ``center`` or ``random`` (random needs ``generator``
    so that training randomness flows from one seed).
    """
    length = wave.shape[-1]
    if num_samples <= 0:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    if length == 0:
        raise ValueError("cannot fit an empty waveform")
    if length > num_samples:
        return wave[..., crop_start(length, num_samples, crop, generator) :][..., :num_samples]
    if length == num_samples:
        return wave
    if pad == "repeat":
        reps = math.ceil(num_samples / length)
        return wave.repeat(*([1] * (wave.dim() - 1)), reps)[..., :num_samples]
    if pad == "repeatpad":
        reps = num_samples // length
        wave = wave.repeat(*([1] * (wave.dim() - 1)), reps)
        return torch.nn.functional.pad(wave, (0, num_samples - wave.shape[-1]))
    if pad == "zero":
        return torch.nn.functional.pad(wave, (0, num_samples - length))
    raise ValueError(f"pad={pad!r} is not valid; choose one of ['repeat', 'repeatpad', 'zero']")


def crop_start(length: int, num_samples: int, crop: str, generator: torch.Generator | None = None) -> int:
    """First sample of the ``num_samples`` window that ``fit_length`` cuts from a longer clip."""
    overflow = length - num_samples
    if crop == "start":
        return 0
    if crop == "center":
        return overflow // 2
    if crop == "random":
        if generator is None:
            raise ValueError(
                "crop='random' needs a seeded torch.Generator (inference crops are deterministic)"
            )
        return int(torch.randint(0, overflow + 1, (1,), generator=generator))
    raise ValueError(f"crop={crop!r} is not valid; choose one of ['start', 'center', 'random']")


def sliding_windows(
    wave: torch.Tensor, num_samples: int, hop_samples: int, sample_rate: int, pad: str = "repeat"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a [N] waveform into windows of ``num_samples`` every ``hop_samples``.

    Returns ``(windows [W, num_samples], start_seconds [W])``. When the hops do not land on the end,
    one more window is aligned with the end of the clip, so every window is full audio (no padded
    tail that would weigh a few samples as much as a whole window). A clip shorter than one window
    yields one window padded with ``pad``.
    """
    if wave.dim() != 1:
        raise ValueError(f"sliding_windows expects a [N] waveform, got shape {tuple(wave.shape)}")
    if hop_samples <= 0 or num_samples <= 0:
        raise ValueError("num_samples and hop_samples must be positive")
    length = wave.shape[0]
    if length <= num_samples:
        return fit_length(wave, num_samples, pad=pad).unsqueeze(0), torch.zeros(1, dtype=torch.float64)
    starts = list(range(0, length - num_samples + 1, hop_samples))
    if starts[-1] + num_samples < length:
        starts.append(length - num_samples)
    windows = torch.stack([wave[s : s + num_samples] for s in starts])
    return windows, torch.tensor(starts, dtype=torch.float64) / sample_rate


def long_audio_clips(wave: np.ndarray, audio: AudioFrontendConfig, long_audio: str) -> list[torch.Tensor]:
    """The clips one mono waveform is embedded as: every clip-length window of a long one with
    ``long_audio="mean"``, else the waveform itself (the model's crop / padding happens in
    ``prepare_waveforms``). A fusion model always gets the whole waveform: its fusion input handles long
    clips, as LAION publishes them."""
    tensor = torch.from_numpy(wave)
    if long_audio == "mean" and tensor.shape[0] > audio.clip_samples and audio.fusion_shrink is None:
        size = audio.clip_samples
        windows, _ = sliding_windows(tensor, size, size, audio.sample_rate, pad=audio.pad)
        return list(windows)
    return [tensor]
