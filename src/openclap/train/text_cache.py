"""Text features of a locked text tower, kept per caption (LiT runs: ``freeze.text``).

A locked tower maps a caption to the same pooled features at every step, yet it costs about a third of
a CPU training step of ``openclap-small`` (MiniLM on 64 captions against the audio CNN's forward and
backward). The cache computes each plain caption once and keeps it (least recently used first out);
only the text projection above it is trained.

Each cached caption is encoded alone (a batch of one, no padding), so its features never depend on
which captions shared its batch, the order of the data or whether the run was resumed: a resumed run
stays bit-identical to an uninterrupted one. Captions made by mixing two clips ("a and b") are seldom
seen twice; they are encoded together, per step, and not kept.

``save`` writes the kept features beside the run's checkpoints (``text_cache.safetensors``, atomic) and
``load`` reads them back when the run resumes, so a resumed run does not start cold (the file is
ignored, with a message, when it was made by another text tower: its fingerprint is the SHA-256 of the
tower's weights). The loaded features are the saved float32 bits, so resuming stays bit-identical.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from openclap.atomic import atomic_write
from openclap.checkpoint import tensor_bytes
from openclap.model import ClapModel

__all__ = ["TEXT_CACHE_FILE", "TextFeatureCache"]

TEXT_CACHE_FILE = "text_cache.safetensors"  # in the run's output folder


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
        self._tower: str | None = None
        self._unsaved = False  # a caption was added since the last save or load

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
        self._unsaved = True
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

    def tower_fingerprint(self) -> str:
        """SHA-256 of the text tower's weights (computed once: the tower is locked)."""
        if self._tower is None:
            digest = hashlib.sha256()
            for name, tensor in sorted(self.model.text_encoder.state_dict().items()):
                digest.update(name.encode())
                digest.update(tensor_bytes(tensor))
            self._tower = digest.hexdigest()
        return self._tower

    def save(self, path: str | Path) -> bool:
        """Write the kept features to ``path`` (atomic) when a caption was added since the last save."""
        if not self._unsaved:
            return False
        captions = list(self.store)
        meta = {"captions": json.dumps(captions, ensure_ascii=False), "tower": self.tower_fingerprint()}
        features = torch.stack([self.store[c] for c in captions]).contiguous()
        atomic_write(Path(path), lambda tmp: save_file({"features": features}, str(tmp), metadata=meta))
        self._unsaved = False
        return True

    def load(self, path: str | Path) -> int:
        """Fill the cache from a file ``save`` wrote (most recent ``max_entries``); the entries read."""
        path = Path(path)
        if not path.is_file():
            return 0
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                features = fh.get_tensor("features")
            captions = json.loads(meta["captions"])
        except (SafetensorError, KeyError, ValueError, OSError) as exc:
            print(f"{path}: unreadable text cache ({exc}); starting it empty", file=sys.stderr)
            return 0
        if meta.get("tower") != self.tower_fingerprint() or len(captions) != len(features):
            print(f"{path}: made by another text tower; starting the text cache empty", file=sys.stderr)
            return 0
        for caption, row in list(zip(captions, features, strict=True))[-self.max_entries :]:
            self.store[caption] = row.clone()
        return len(self.store)
