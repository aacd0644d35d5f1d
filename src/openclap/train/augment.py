"""Training augmentation, every draw from an explicit seeded generator.

- waveform: random gain, mixing a clip with another clip of the batch (their captions joined), then a
  synthetic room (reverberation) and coloured background noise, which leave the caption as it is;
- log-mel: SpecAugment time and frequency masks (filled with each example's mean).
Random crops happen in the dataset (``ClipSettings.random_crop``). ``random_gain``, ``add_reverb``,
``add_noise`` and ``spec_augment`` live in ``openclap.audio.augment`` (shared with the fine-tuning
protocol and the validation benchmark) and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from openclap.audio.augment import add_noise, add_reverb, random_gain, spec_augment
from openclap.train.config import AugmentConfig

__all__ = [
    "add_noise",
    "add_reverb",
    "augment_waves",
    "augment_waves_marked",
    "mix_pairs",
    "mix_pairs_marked",
    "random_gain",
    "spec_augment",
]


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


def augment_waves(
    wave: torch.Tensor,
    captions: Sequence[str],
    config: AugmentConfig,
    gen: torch.Generator,
    sample_rate: int = 16000,
) -> tuple[torch.Tensor, list[str]]:
    """Gain, mixing, reverberation and noise, as configured (``sample_rate``: the waves' rate)."""
    wave, captions, _ = augment_waves_marked(wave, captions, config, gen, sample_rate)
    return wave, captions


def augment_waves_marked(
    wave: torch.Tensor,
    captions: Sequence[str],
    config: AugmentConfig,
    gen: torch.Generator,
    sample_rate: int = 16000,
) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """``augment_waves`` that also returns the bool mask [B] of mixed clips."""
    wave = random_gain(wave, config.gain_db, gen)
    wave, captions, mixed = mix_pairs_marked(wave, captions, config.mix_prob, config.mix_joiner, gen)
    wave = add_reverb(wave, config.reverb_prob, config.reverb_rt60, sample_rate, gen)
    wave = add_noise(wave, config.noise_prob, config.noise_snr_db, gen)
    return wave, captions, mixed
