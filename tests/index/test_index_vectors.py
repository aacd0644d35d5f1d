"""The FAISS layer on clustered synthetic vectors: exact search, the IVF index's recall against it,
filtering by allowed ids, and byte-identical indexes at any thread count."""

from __future__ import annotations

import numpy as np
import pytest

from openclap.index import vectors

faiss = pytest.importorskip("faiss")


def clustered(n: int, dim: int = 32, clusters: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + 0.4 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_and_ivf_search_with_ids_and_filters() -> None:
    x = clustered(6000)
    ids = np.arange(len(x), dtype=np.int64) * 7 + 3  # item ids are not row numbers
    exact, kind = vectors.build(ids, x, "auto")
    assert kind == "exact" and vectors.kind_of(exact) == "exact"
    ivf, kind = vectors.build(ids, x, "ivf")
    assert kind == "ivf" and vectors.kind_of(ivf) == "ivf"
    _, found = vectors.search(exact, x[:5], 10)
    brute = np.argsort(-(x[:5] @ x.T), axis=1)[:, :10]
    np.testing.assert_array_equal(found, ids[brute])
    assert vectors.recall_at_k(ivf, ids, x) >= 0.95
    allowed = ids[::97]  # spread over many lists: a filtered IVF search visits them all, so it is exact
    filtered = [vectors.search(index, x[:3], 10, allowed)[1] for index in (exact, ivf)]
    np.testing.assert_array_equal(filtered[0], filtered[1])
    assert set(filtered[0].ravel().tolist()) <= set(allowed.tolist())
    assert vectors.build(ids[:100], x[:100], "ivf")[1] == "exact"  # too few vectors to train lists


def test_ivf_index_is_identical_at_any_thread_count() -> None:
    x = clustered(6000, seed=1)
    ids = np.arange(len(x), dtype=np.int64)
    threads = faiss.omp_get_max_threads()
    try:
        faiss.omp_set_num_threads(1)
        one = faiss.serialize_index(vectors.build(ids, x, "ivf")[0])
        faiss.omp_set_num_threads(2)
        two = faiss.serialize_index(vectors.build(ids, x, "ivf")[0])
    finally:
        faiss.omp_set_num_threads(threads)
    assert np.array_equal(one, two)
