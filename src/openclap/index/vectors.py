"""FAISS indexes over L2-normalised embeddings (inner product = cosine similarity).

Up to ``EXACT_MAX_VECTORS`` vectors get an exact ``IndexFlatIP``; above it an inverted-file index
(``IndexIVFFlat``: vectors kept whole, only the lists searched are limited), whose nprobe is set so that
recall@10 against exact search stays high (measured by ``benchmarks/index_speed.py``, see
docs/search.md). Both are wrapped in an ``IndexIDMap`` so FAISS returns the store's item ids.

Deterministic: k-means trains on an evenly strided sample (no random draw) with FAISS's fixed seed, and
the same vectors give the same index bytes at any thread count (checked in the tests).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from openclap.checkpoint import atomic_write

if TYPE_CHECKING:
    import faiss

# exact search of one query passes ~10 ms around 30,000 vectors of 512 on a busy 2-core machine, while
# IVF stays under 1 ms at recall@10 >= 0.99 (benchmarks/index_speed.py, docs/search.md)
EXACT_MAX_VECTORS = 30_000
KMEANS_SEED = 1234
TRAIN_POINTS_PER_LIST = 64
RECALL_QUERIES = 200


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise ImportError("the sound index needs faiss: pip install 'openclap[index]'") from None
    return faiss


def ivf_lists(count: int) -> int:
    """Inverted lists for ``count`` vectors: the power of two nearest sqrt(count), 64 to 4096."""
    return int(min(4096, max(64, 2 ** round(math.log2(max(count, 1) ** 0.5)))))


def default_nprobe(nlist: int) -> int:
    """Lists searched per query: 1/16 of them, at least 8 (recall@10 >= 0.95 on clustered data)."""
    return max(8, nlist // 16)


def build(ids: np.ndarray, vectors: np.ndarray, kind: str = "auto") -> tuple[faiss.Index, str]:
    """An index of ``vectors`` [N, D] (L2-normalised float32) under ``ids`` [N] int64.

    ``kind``: ``exact``, ``ivf`` or ``auto`` (exact up to ``EXACT_MAX_VECTORS``). Returns the index and
    the kind built.
    """
    faiss = _faiss()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    count, dim = vectors.shape
    if kind == "auto":
        kind = "exact" if count <= EXACT_MAX_VECTORS else "ivf"
    if kind == "ivf" and count < 64 * 39:  # too few points to train even the smallest k-means
        kind = "exact"
    if kind == "exact":
        inner = faiss.IndexFlatIP(dim)
    elif kind == "ivf":
        inner = _trained_ivf(vectors, faiss)
    else:
        raise ValueError(f"index kind {kind!r} is not valid; choose one of ['auto', 'exact', 'ivf']")
    index = faiss.IndexIDMap(inner)
    index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
    return index, kind


def _trained_ivf(vectors: np.ndarray, faiss: Any) -> Any:
    nlist = ivf_lists(len(vectors))
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    ivf = faiss.IndexIVFFlat(quantizer, vectors.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.seed = KMEANS_SEED
    ivf.cp.max_points_per_centroid = TRAIN_POINTS_PER_LIST
    step = max(1, len(vectors) // (TRAIN_POINTS_PER_LIST * nlist))
    ivf.train(np.ascontiguousarray(vectors[::step]))
    ivf.nprobe = default_nprobe(nlist)
    return ivf


def write(index: faiss.Index, path: Path) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    atomic_write(path, lambda tmp: _faiss().write_index(index, str(tmp)))


def read(path: Path) -> faiss.Index:
    return _faiss().read_index(str(path))


def kind_of(index: faiss.Index) -> str:
    faiss = _faiss()
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index
    return "ivf" if isinstance(inner, faiss.IndexIVF) else "exact"


def search(
    index: faiss.Index, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, ids) [Q, k] each; missing hits have id -1.

    ``allowed`` limits hits to those ids, exactly on both kinds: an IVF index then visits every list,
    since the allowed ids may sit in lists a query would not probe (only allowed ids are scored, so this
    costs about one id check per vector).
    """
    faiss = _faiss()
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if allowed is None:
        return index.search(queries, k)
    selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexIVF):
        params = faiss.SearchParametersIVF(sel=selector, nprobe=inner.nlist)
    else:
        params = faiss.SearchParameters(sel=selector)
    return index.search(queries, k, params=params)


def recall_at_k(
    index: faiss.Index, ids: np.ndarray, vectors: np.ndarray, k: int = 10, queries: int = RECALL_QUERIES
) -> float:
    """Recall@k of ``index`` against exact search over the same ``ids`` / ``vectors``, with evenly spaced
    stored vectors as queries: the mean fraction of the exact top-k ids that the index returns."""
    step = max(1, len(vectors) // queries)
    probe = np.ascontiguousarray(vectors[::step][:queries], dtype=np.float32)
    exact, _ = build(ids, vectors, "exact")
    _, truth = exact.search(probe, k)
    _, found = index.search(probe, k)
    hits = sum(len(set(t[t >= 0]) & set(f[f >= 0])) for t, f in zip(truth, found, strict=True))
    return hits / max(1, int((truth >= 0).sum()))
