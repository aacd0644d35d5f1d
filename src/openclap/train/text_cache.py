"""Text features of a locked text tower, kept per caption (LiT runs: ``freeze.text``).

A locked tower maps a caption to the same pooled features at every step, yet it costs about a third of
a CPU training step of ``openclap-small`` (MiniLM on 64 captions against the audio CNN's forward and
backward). The cache computes each plain caption once and keeps it (least recently used first out);
only the text projection above it is trained.

Each cached caption is encoded alone (a batch of one, no padding), so its features never depend on
which captions shared its batch, the order of the data or whether the run was resumed: a resumed run
stays bit-identical to an uninterrupted one. Captions made by mixing two clips ("a and b") are seldom
seen twice; they are encoded together, per step, and not kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch

from openclap.model import ClapModel

__all__ = ["TextFeatureCache"]


class TextFeatureCache:
    """Pooled text-encoder features per caption, at most ``max_entries`` kept."""

    def __init__(self, model: ClapModel, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError(f"text cache size must be >= 1, got {max_entries}")
        self.model = model
        self.max_entries = max_entries
        self.store: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def _encode(self, captions: Sequence[str]) -> torch.Tensor:
        device = self.model.logit_scale.device
        tokens = {k: v.to(device) for k, v in self.model.tokenize(list(captions)).items()}
        with torch.no_grad():
            return self.model.text_features(tokens).float()

    def _cached(self, caption: str) -> torch.Tensor:
        hit = self.store.get(caption)
        if hit is not None:
            self.hits += 1
            self.store.move_to_end(caption)
            return hit
        self.misses += 1
        features = self._encode([caption])[0]
        self.store[caption] = features
        if len(self.store) > self.max_entries:
            self.store.popitem(last=False)
        return features

    def features(self, captions: Sequence[str], keep: Sequence[bool]) -> torch.Tensor:
        """[B, D_text] features of ``captions``; those with ``keep`` false (mixes) are not cached."""
        if len(captions) != len(keep):
            raise ValueError(f"{len(captions)} captions but {len(keep)} keep flags")
        pairs = zip(captions, keep, strict=True)
        rows: list[torch.Tensor | None] = [self._cached(c) if k else None for c, k in pairs]
        rest = [i for i, row in enumerate(rows) if row is None]
        if rest:
            for i, features in zip(rest, self._encode([captions[i] for i in rest]), strict=True):
                rows[i] = features
        return torch.stack([row for row in rows if row is not None])
