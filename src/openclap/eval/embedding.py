"""Embed a dataset's audio with a model, through the on-disk cache when one is configured.

Files that fail to load are dropped from the evaluation and reported (count and first errors);
the protocols then score the remaining items only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from openclap.eval.cache import EmbeddingCache, EmbeddingTable
from openclap.eval.datasets.base import EvalDataset

if TYPE_CHECKING:
    from openclap.model import ClapModel


@dataclass(frozen=True)
class EmbedOptions:
    """How audio is embedded: batch size, long-file handling (core ``long_audio``), progress bar, decoding
    threads (``workers``; None: ``inference.default_workers()``), and the cache folder plus model identity
    (both needed to use the cache)."""

    batch_size: int = 16
    long_audio: str = "mean"
    progress: bool = True
    workers: int | None = None
    cache_dir: Path | None = None
    model_id: str | None = None


@dataclass
class EmbeddedDataset:
    """The items that embedded successfully, their embeddings [N, D], and bookkeeping."""

    dataset: EvalDataset
    embeddings: NDArray[np.float32]
    errors: list[tuple[str, str]] = field(default_factory=list)
    n_cached: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "n_failed": len(self.errors),
            "errors": [f"{p}: {m}" for p, m in self.errors[:5]],
            "n_cached": self.n_cached,
            "embed_seconds": round(self.seconds, 3),
        }


def embed_dataset(
    model: ClapModel, dataset: EvalDataset, options: EmbedOptions | None = None
) -> EmbeddedDataset:
    """Audio embeddings of every item (cached per file when ``cache_dir`` and ``model_id`` are set)."""
    from openclap.inference import embed_audio_files

    opts = options or EmbedOptions()
    start = time.perf_counter()

    def compute(paths: list[str]) -> Any:
        return embed_audio_files(
            model,
            paths,
            batch_size=opts.batch_size,
            long_audio=opts.long_audio,
            progress=opts.progress,
            workers=opts.workers,
        )

    paths = [str(p) for p in dataset.paths]
    if opts.cache_dir is not None and opts.model_id is not None:
        table = EmbeddingCache(opts.cache_dir, opts.model_id).embed(paths, compute)
    else:
        out = compute(paths)
        rows = dict(zip(out.paths, out.embeddings, strict=True))
        dim = out.embeddings.shape[1] if out.embeddings.ndim == 2 else 0
        table = EmbeddingTable(
            np.stack([rows.get(p, np.zeros(dim, np.float32)) for p in paths]).astype(np.float32),
            np.array([p in rows for p in paths], dtype=bool),
            list(out.errors),
            0,
            len(rows),
        )
    if not table.valid.any():
        shown = "; ".join(f"{p}: {m}" for p, m in table.errors[:3])
        raise ValueError(f"{dataset.name}: no audio file could be embedded ({shown})")
    kept = np.nonzero(table.valid)[0]
    return EmbeddedDataset(
        dataset.select(kept.tolist()),
        table.embeddings[kept],
        table.errors,
        table.n_cached,
        time.perf_counter() - start,
    )
