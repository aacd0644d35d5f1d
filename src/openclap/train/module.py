"""``TrainModule``, what DDP wraps in training: the model's audio path with SpecAugment, the text
embedding and an optional distillation head; and the autocast context of a training precision."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from openclap.audio.augment import SpecAugmentConfig
from openclap.audio.preprocess import unstack_waves
from openclap.freeze import KeepsFrozenInEval
from openclap.model import ClapModel
from openclap.train.semantic import class_embeddings


class TrainModule(KeepsFrozenInEval):
    """What DDP wraps: the model's own audio path (``prepare_waveforms`` then ``audio_features``) with
    SpecAugment as its ``mel_augment``, and the text embedding.

    Modules in ``frozen`` stay in eval mode. With a ``distill_head``, the output also holds its
    prediction from the pooled audio features; with ``semantic_features`` (the locked text tower's
    features of a tagger's class texts, [T, C, D_text]), the classes' current joint-space embeddings
    (``openclap.train.semantic``).
    """

    def __init__(
        self,
        model: ClapModel,
        augment: SpecAugmentConfig,
        frozen: Sequence[nn.Module] = (),
        distill_head: nn.Module | None = None,
        semantic_features: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.augment = augment
        self.frozen = list(frozen)
        self.distill_head = distill_head
        self.semantic_features: torch.Tensor | None
        self.register_buffer("semantic_features", semantic_features, persistent=False)

    def forward(
        self,
        wave: torch.Tensor,
        text: dict[str, torch.Tensor] | torch.Tensor,
        seed: int,
        lengths: torch.Tensor | None = None,
    ) -> dict[str, Any]:
        """``wave`` [B, N] (each row cut to ``lengths`` when given: a fusion model's long clips), ``text``:
        a token dict or the pooled features of a locked text tower (``TextFeatureCache``); ``seed`` draws
        the SpecAugment masks and a fusion model's local chunks."""
        model = self.model
        prepared = model.prepare_waveforms(unstack_waves(wave, lengths), rng=seed % 2**32).to(wave.device)
        gen = torch.Generator().manual_seed(seed)
        features = model.audio_features(prepared, self.augment.masker(gen) if self.training else None)
        out: dict[str, Any] = {
            "audio_emb": model.project_audio(features),
            "text_emb": self._text_embedding(text),
            "logit_scale": model.logit_scale,
        }
        if self.distill_head is not None:
            out["distill"] = self.distill_head(features)
        if self.semantic_features is not None:
            out["semantic_classes"] = class_embeddings(model.text_projection, self.semantic_features)
        if model.config.separate_logit_scales:
            out["logit_scale_t"] = model.logit_scale_t
        return out

    def _text_embedding(self, text: dict[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:
        if isinstance(text, torch.Tensor):
            return F.normalize(self.model.text_projection(text), dim=-1)
        return self.model.encode_text(text)


def autocast_context(precision: str, device: torch.device) -> AbstractContextManager[Any]:
    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
