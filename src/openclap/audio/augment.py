"""Audio augmentations shared by the trainer and the fine-tuning protocol, every draw from an explicit
seeded ``torch.Generator`` (never the global random stream).

- ``random_gain``: scale each waveform by a uniform gain in dB;
- ``spec_augment``: SpecAugment time and frequency masks on a log-mel (filled with each example's mean).
"""

from __future__ import annotations

import torch


def random_gain(wave: torch.Tensor, gain_db: float, gen: torch.Generator) -> torch.Tensor:
    """Scale each clip [B, N] by a gain drawn uniformly in [-gain_db, +gain_db] dB."""
    if gain_db <= 0:
        return wave
    db = (torch.rand(wave.shape[0], generator=gen) * 2 - 1) * gain_db
    return wave * (10.0 ** (db / 20.0)).to(wave.device, wave.dtype)[:, None]


def spec_augment(
    mel: torch.Tensor,
    time_masks: int,
    time_width: int,
    freq_masks: int,
    freq_width: int,
    gen: torch.Generator,
) -> torch.Tensor:
    """Mask ``time_masks`` bands of up to ``time_width`` frames and ``freq_masks`` bands of up to
    ``freq_width`` mel bins in each log-mel [B, n_mels, T]."""
    batch, n_mels, frames = mel.shape
    keep = torch.ones(batch, n_mels, frames, dtype=torch.bool)
    for count, width, axis, size in (
        (time_masks, time_width, 2, frames),
        (freq_masks, freq_width, 1, n_mels),
    ):
        if count <= 0 or width <= 0:
            continue
        for _ in range(count):
            widths = torch.randint(0, min(width, size) + 1, (batch,), generator=gen)
            starts = (torch.rand(batch, generator=gen) * (size - widths + 1)).long()
            idx = torch.arange(size)
            band = (idx[None] >= starts[:, None]) & (idx[None] < (starts + widths)[:, None])  # [B, size]
            keep &= ~(band[:, None, :] if axis == 2 else band[:, :, None])
    keep = keep.to(mel.device)
    fill = mel.mean(dim=(1, 2), keepdim=True)
    return torch.where(keep, mel, fill)
