"""FAISS indexes over L2-normalised embeddings (inner product = cosine similarity).

Up to ``EXACT_MAX_VECTORS`` vectors get an exact ``IndexFlatIP``; above it an inverted-file index
(``IndexIVFFlat``: vectors kept whole, only the lists searched are limited). Its nprobe is tuned when it is
built: starting at ``MIN_NPROBE`` lists, doubled until recall@10 against exact search, measured on stored
vectors, reaches ``TARGET_RECALL`` (``tune_nprobe``), so clustered collections get fast queries and diffuse
ones stay accurate. Both kinds are wrapped in an ``IndexIDMap`` so FAISS returns the store's item ids.

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
MIN_NPROBE = 8
TARGET_RECALL = 0.95


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise ImportError("the sound index needs faiss: pip install 'openclap[index]'") from None
    return faiss


def ivf_lists(count: int) -> int:
    """Inverted lists for ``count`` vectors: the power of two nearest sqrt(count), 64 to 4096."""
    return int(min(4096, max(64, 2 ** round(math.log2(max(count, 1) ** 0.5)))))


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
    ivf.nprobe = MIN_NPROBE
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
    index: faiss.Index,
    queries: np.ndarray,
    k: int,
    allowed: np.ndarray | None = None,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, ids) [Q, k] each; missing hits have id -1.

    ``allowed`` limits hits to those ids, exactly on both kinds: an IVF index then visits every list,
    since the allowed ids may sit in lists a query would not probe (only allowed ids are scored, so this
    costs about one id check per vector). ``threads``: FAISS (OpenMP) threads for this call in this thread
    (None: as set).
    """
    faiss = _faiss()
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    before = faiss.omp_get_max_threads()
    if threads is not None:  # OpenMP's thread count is per calling thread: other threads are not affected
        faiss.omp_set_num_threads(threads)
    try:
        return index.search(queries, k, params=_params(index, allowed))
    finally:
        faiss.omp_set_num_threads(before)


def _params(index: faiss.Index, allowed: np.ndarray | None) -> Any:
    faiss = _faiss()
    if allowed is None:
        return None
    selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexIVF):
        return faiss.SearchParametersIVF(sel=selector, nprobe=inner.nlist)
    return faiss.SearchParameters(sel=selector)


def _without(found: np.ndarray, own: np.ndarray, k: int) -> list[set[int]]:
    """Each row's first ``k`` ids other than the query's own id (a stored vector finds itself)."""
    return [set([int(x) for x in row if x >= 0 and x != me][:k]) for row, me in zip(found, own, strict=True)]


def recall_at_k(
    index: faiss.Index, ids: np.ndarray, vectors: np.ndarray, k: int = 10, queries: int = RECALL_QUERIES
) -> float:
    """Recall@k of ``index`` against exact search over the same ``ids`` / ``vectors``: evenly spaced stored
    vectors are the queries (each query's own id left out of both lists), and the result is the mean
    fraction of the exact top-k that the index returns."""
    return _recall_curve(index, ids, vectors, k, queries, [None])[0]


def tune_nprobe(
    index: faiss.Index, ids: np.ndarray, vectors: np.ndarray, target: float = TARGET_RECALL
) -> float:
    """Set an IVF index's nprobe to the smallest of 8, 16, 32, ... lists (at most all) whose recall@10
    reaches ``target``; returns that recall."""
    inner = _faiss().extract_index_ivf(index)
    options = []
    nprobe = MIN_NPROBE
    while nprobe < inner.nlist:
        options.append(nprobe)
        nprobe *= 2
    options.append(inner.nlist)
    curve = _recall_curve(index, ids, vectors, 10, RECALL_QUERIES, options, target)
    inner.nprobe = options[len(curve) - 1]  # the curve stops at the first nprobe that reaches the target
    return curve[-1]


def _recall_curve(
    index: faiss.Index,
    ids: np.ndarray,
    vectors: np.ndarray,
    k: int,
    queries: int,
    nprobes: list[int | None],
    stop_at: float = 2.0,
) -> list[float]:
    """Recall@k at each nprobe (None: as set), stopping after the first at or above ``stop_at``."""
    step = max(1, len(vectors) // queries)
    probe = np.ascontiguousarray(vectors[::step][:queries], dtype=np.float32)
    own = np.asarray(ids)[::step][:queries]
    exact, _ = build(ids, vectors, "exact")
    truth = _without(exact.search(probe, k + 1)[1], own, k)
    total = sum(len(t) for t in truth) or 1
    curve = []
    for nprobe in nprobes:
        params = None if nprobe is None else _faiss().SearchParametersIVF(nprobe=nprobe)
        found = _without(index.search(probe, k + 1, params=params)[1], own, k)
        curve.append(sum(len(t & f) for t, f in zip(truth, found, strict=True)) / total)
        if curve[-1] >= stop_at:
            break
    return curve
