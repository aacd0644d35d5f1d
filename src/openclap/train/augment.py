"""Training augmentation, every draw from an explicit seeded generator.

- waveform: random gain, mixing a clip with another clip of the batch (their captions joined);
- log-mel: SpecAugment time and frequency masks (filled with each example's mean).
Random crops happen in the dataset (``ClipSettings.random_crop``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from openclap.train.config import AugmentConfig


def random_gain(wave: torch.Tensor, gain_db: float, gen: torch.Generator) -> torch.Tensor:
    """Scale each clip [B, N] by a gain drawn uniformly in [-gain_db, +gain_db] dB."""
    if gain_db <= 0:
        return wave
    db = (torch.rand(wave.shape[0], generator=gen) * 2 - 1) * gain_db
    return wave * (10.0 ** (db / 20.0)).to(wave.device, wave.dtype)[:, None]


def mix_pairs(
    wave: torch.Tensor, captions: Sequence[str], prob: float, joiner: str, gen: torch.Generator
) -> tuple[torch.Tensor, list[str]]:
    """With probability ``prob`` per clip, add another clip of the batch at a random level (ratio in
    [0.3, 0.7]) and join their captions: ``"a dog barks and rain falls"``."""
    wave, captions, _ = mix_pairs_marked(wave, captions, prob, joiner, gen)
    return wave, captions


def mix_pairs_marked(
    wave: torch.Tensor, captions: Sequence[str], prob: float, joiner: str, gen: torch.Generator
) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """``mix_pairs`` that also returns a bool mask [B] of the clips that were mixed."""
    batch = wave.shape[0]
    captions = list(captions)
    chosen = torch.zeros(batch, dtype=torch.bool)
    if prob <= 0 or batch < 2:
        return wave, captions, chosen
    chosen = torch.rand(batch, generator=gen) < prob
    partners = (torch.arange(batch) + 1 + torch.randint(batch - 1, (batch,), generator=gen)) % batch
    ratios = 0.3 + 0.4 * torch.rand(batch, generator=gen)
    mixed = wave.clone()
    for i in torch.nonzero(chosen).flatten().tolist():
        j, r = int(partners[i]), float(ratios[i])
        mixed[i] = r * wave[i] + (1 - r) * wave[j]
        captions[i] = f"{captions[i]}{joiner}{captions[j]}"
    return mixed, captions, chosen


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


def augment_waves(
    wave: torch.Tensor, captions: Sequence[str], config: AugmentConfig, gen: torch.Generator
) -> tuple[torch.Tensor, list[str]]:
    """Gain then mixing, as configured."""
    wave, captions, _ = augment_waves_marked(wave, captions, config, gen)
    return wave, captions


def augment_waves_marked(
    wave: torch.Tensor, captions: Sequence[str], config: AugmentConfig, gen: torch.Generator
) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """``augment_waves`` that also returns the bool mask [B] of mixed clips."""
    wave = random_gain(wave, config.gain_db, gen)
    return mix_pairs_marked(wave, captions, config.mix_prob, config.mix_joiner, gen)


def uses_spec_augment(config: AugmentConfig) -> bool:
    return (config.time_masks > 0 and config.time_mask_frames > 0) or (
        config.freq_masks > 0 and config.freq_mask_bins > 0
    )
