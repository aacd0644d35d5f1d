"""LAION-CLAP's feature-fusion input for long audio, deterministic by default.

For a fusion model (``HTSAT(fusion=True)``) every clip becomes a 4-channel log-mel ``[4, n_mels, T]``
with ``T = clip_samples // hop + 1`` frames (1001 for 10 s at 48 kHz, hop 480):

- a clip that fits the clip length is padded (``repeatpad``) and its log-mel repeated 4 times; it is not
  ``longer`` and the encoder then uses channel 0 only;
- a longer clip keeps all its samples. Channel 0 is its whole log-mel shrunk to T frames (bilinear with
  antialiasing, as torchvision's ``Resize`` on tensors, which LAION used); channels 1-3 are T-frame
  chunks starting in the front, middle and back thirds of the possible start frames.

LAION draws each chunk start with ``np.random.choice``; openclap takes the middle of each third unless a
seed (or ``numpy.random.RandomState``) is given, which reproduces LAION's draws exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from openclap.audio.clip import fit_length
from openclap.config import AudioFrontendConfig


def quantize_int16(wave: torch.Tensor) -> torch.Tensor:
    """LAION's ``(clip(x, -1, 1) * 32767).astype(int16) / 32767`` in float32 (truncation toward zero)."""
    return (wave.clamp(-1.0, 1.0) * 32767.0).to(torch.int16).float() / 32767.0


def num_frames(num_samples: int, hop_length: int) -> int:
    """Frames of a centred STFT of ``num_samples`` samples."""
    return num_samples // hop_length + 1


def chunk_starts(total_frames: int, chunk_frames: int,
                 rng: np.random.RandomState | int | None = None) -> list[int]:
    """Start frames of the front / middle / back chunks of a long log-mel.

    The possible starts ``0 .. total_frames - chunk_frames`` are split in three (``np.array_split``);
    without ``rng`` the middle element of each part is taken, with it one ``choice`` per part, in order,
    as LAION does (``rng=4242`` behaves like ``np.random.seed(4242)`` before LAION's call).
    """
    if total_frames <= chunk_frames:
        raise ValueError(f"a long clip needs more than {chunk_frames} frames, got {total_frames}")
    parts = [list(p) for p in np.array_split(np.arange(total_frames - chunk_frames + 1), 3)]
    parts = [p if p else [0] for p in parts]  # very short overflows: LAION falls back to frame 0
    if rng is None:
        return [int(p[len(p) // 2]) for p in parts]
    state = rng if isinstance(rng, np.random.RandomState) else np.random.RandomState(rng)
    return [int(state.choice(p)) for p in parts]


def shrink_time(mel: torch.Tensor, frames: int, antialias: bool = True) -> torch.Tensor:
    """[n_mels, T] -> [n_mels, frames] bilinear, by default with antialiasing as torchvision's ``Resize``
    on a [T, n_mels] tensor since torchvision 0.17 (laion_clap today); ``antialias=False`` is the older
    torchvision that trained the models, and Hugging Face's extractor (they differ by up to 5.5 dB)."""
    img = mel.T[None, None]  # [1, 1, T, n_mels], the layout LAION resized
    size = (frames, mel.shape[0])
    out = F.interpolate(img, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    return out[0, 0].T


@dataclass
class FusionBatch:
    """Clips prepared for a fusion model: each wave is exactly the clip length, or longer (kept whole).

    ``chunk_starts`` [B, 3] int64 holds the chosen start frames of long clips and -1 for the others.
    """

    waves: list[torch.Tensor]
    chunk_starts: torch.Tensor

    @property
    def longer(self) -> torch.Tensor:
        return self.chunk_starts[:, 0] >= 0

    def to(self, device: torch.device | str) -> FusionBatch:
        return FusionBatch([w.to(device) for w in self.waves], self.chunk_starts.to(device))

    def __len__(self) -> int:
        return len(self.waves)


def prepare_fusion(waves: Sequence[torch.Tensor], config: AudioFrontendConfig,
                   rng: np.random.RandomState | int | None = None) -> FusionBatch:
    """Quantise (if configured), pad short clips, keep long ones, and choose the chunks of long ones."""
    chunk_frames = num_frames(config.clip_samples, config.hop_length)
    state = np.random.RandomState(rng) if isinstance(rng, int) else rng
    kept: list[torch.Tensor] = []
    starts: list[list[int]] = []
    for wave in waves:
        wave = torch.as_tensor(wave, dtype=torch.float32)
        if wave.dim() != 1:
            raise ValueError(f"fusion expects mono [N] waveforms, got shape {tuple(wave.shape)}")
        if config.quantize_int16:
            wave = quantize_int16(wave)
        total = num_frames(wave.shape[0], config.hop_length)
        if wave.shape[0] > config.clip_samples and total > chunk_frames:
            starts.append(chunk_starts(total, chunk_frames, state))
        else:  # fits, or overflows by less than one hop (same frame count): used whole, as LAION does
            if wave.shape[0] < config.clip_samples:
                wave = fit_length(wave, config.clip_samples, pad=config.pad, crop=config.crop)
            starts.append([-1, -1, -1])
        kept.append(wave)
    return FusionBatch(kept, torch.tensor(starts, dtype=torch.int64).reshape(-1, 3))


def fusion_mel(frontend: nn.Module, batch: FusionBatch, chunk_frames: int,
               antialias: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-mel every clip with ``frontend`` ([1, N] -> [1, n_mels, T]) and build the 4-channel input.

    Returns ``(mel [B, 4, n_mels, chunk_frames], longer [B] bool)``.
    """
    out = []
    for wave, starts in zip(batch.waves, batch.chunk_starts.tolist(), strict=True):
        mel = frontend(wave[None])[0]  # [n_mels, T]
        if starts[0] < 0:
            if mel.shape[-1] != chunk_frames:
                raise ValueError(f"a clip that is not longer must give {chunk_frames} frames, "
                                 f"got {mel.shape[-1]}")
            out.append(mel.expand(4, -1, -1))
        else:
            chunks = [mel[:, s : s + chunk_frames] for s in starts]
            out.append(torch.stack([shrink_time(mel, chunk_frames, antialias), *chunks]))
    return torch.stack(out), batch.longer
