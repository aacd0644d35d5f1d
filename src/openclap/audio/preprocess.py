"""``AudioPreprocessor``: the one owner of how a mono waveform becomes a model's audio input.

Built from the front-end config, it is used by training, fine-tuning, evaluation and inference alike:

- ``window``: the training example cut from one decoded clip (a clip-length window, randomly placed
  with a seeded generator or at the config's deterministic crop, padded when short). A fusion model
  keeps a long clip whole: its fusion input is how it sees long audio, in training as at inference;
- ``prepare``: int16 quantisation (``quantize_int16`` configs, as LAION) and the deterministic fit to
  the clip length, or the fusion input (``FusionBatch``) of a fusion model, whose local chunks are the
  middle of each third unless a seed is given (training draws them).

Augmentation happens between the two, so a training clip is quantised and fitted exactly as inference
quantises and fits the same clip and crop. ``stack_waves`` / ``unstack_waves`` carry clips of several
lengths (a fusion model's long clips) through a batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from openclap.audio.clip import crop_start, fit_length
from openclap.audio.fusion import FusionBatch, prepare_fusion, quantize_int16
from openclap.config import AudioFrontendConfig


class AudioPreprocessor:
    """Clip fitting, int16 quantisation and the fusion input of one front-end config."""

    def __init__(self, config: AudioFrontendConfig) -> None:
        self.config = config

    @property
    def fusion(self) -> bool:
        return self.config.fusion_shrink is not None

    def window(
        self, wave: torch.Tensor, generator: torch.Generator | None = None, random_crop: bool = False
    ) -> tuple[torch.Tensor, int]:
        """A training example from a mono clip [N]: ``(clip, first sample of the source it holds)``.

        ``random_crop`` places the window of a long clip with ``generator``; otherwise the config's
        ``crop`` places it. A short clip is padded with the config's ``pad``. A fusion model keeps a long
        clip whole (first sample 0).
        """
        cfg = self.config
        length = wave.shape[-1]
        if length > cfg.clip_samples and not self.fusion:
            start = crop_start(length, cfg.clip_samples, "random" if random_crop else cfg.crop, generator)
            return wave[..., start : start + cfg.clip_samples], start
        if length < cfg.clip_samples:
            return fit_length(wave, cfg.clip_samples, pad=cfg.pad), 0
        return wave, 0

    def quantize(self, wave: torch.Tensor) -> torch.Tensor:
        """The waveform as the model reads it: int16-quantised where the config says so (LAION)."""
        return quantize_int16(wave) if self.config.quantize_int16 else wave

    def prepare(
        self, waves: Sequence[torch.Tensor], rng: np.random.RandomState | int | None = None
    ) -> torch.Tensor | FusionBatch:
        """Mono clips at the config's sample rate -> the model's input: [B, clip_samples], or a
        ``FusionBatch`` for a fusion model (``rng``: seeded draws of its local chunks)."""
        cfg = self.config
        if self.fusion:
            return prepare_fusion(waves, cfg, rng)
        batch = [
            fit_length(self.quantize(torch.as_tensor(w, dtype=torch.float32)), cfg.clip_samples,
                       pad=cfg.pad, crop=cfg.crop)
            for w in waves
        ]
        return torch.stack(batch)


def stack_waves(waves: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips [N_i] -> ``(wave [B, max N_i] zero-padded, lengths [B] int64)``."""
    lengths = torch.tensor([w.shape[-1] for w in waves], dtype=torch.int64)
    longest = int(lengths.max())
    wave = torch.stack([torch.nn.functional.pad(w, (0, longest - w.shape[-1])) for w in waves])
    return wave, lengths


def unstack_waves(wave: torch.Tensor, lengths: torch.Tensor | None = None) -> list[torch.Tensor]:
    """``stack_waves`` undone: each row [N_max] cut to its length (all rows whole without ``lengths``)."""
    if lengths is None:
        return list(wave)
    return [row[:n] for row, n in zip(wave, lengths.tolist(), strict=True)]
