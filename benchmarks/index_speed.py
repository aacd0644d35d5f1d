"""Vector-index speed and recall on a synthetic collection: exact (IndexFlatIP) against the IVF index that
``openclap.index`` builds above ``EXACT_MAX_VECTORS`` windows.

Usage: .venv/bin/python benchmarks/index_speed.py [--vectors 1000000] [--threads 2 1] [--nprobe 16 32 64]
       [--spread 0.03] [--hnsw-vectors 0]

The data are clustered like embeddings of a sound collection (``--clusters`` Gaussian blobs on the unit
sphere, so that nearest neighbours mean something), dimension that of ``openclap-small``. Queries are
fresh draws from the same blobs, not stored vectors. Reports build time, single-query latency p50 / p99
(one query at a time, at each of the ``--threads`` FAISS thread counts) and recall@10 against exact
search; the exact search's latency at growing sizes is what ``EXACT_MAX_VECTORS`` is chosen from.
``--hnsw-vectors N`` adds an HNSW index (M=32) of the first N vectors beside an IVF index of the same N,
for the choice between them. Memory: about 2 x vectors x dim x 4 bytes (4 GB for 1M x 512).
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from openclap.index import vectors
from openclap.registry import get_config


def clustered(n: int, dim: int, centres: np.ndarray, seed: int, spread: float = 0.03) -> np.ndarray:
    """``n`` unit vectors around random ``centres``, generated in chunks (float32 [n, dim])."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    for i in range(0, n, 65536):
        m = min(65536, n - i)
        chunk = centres[rng.integers(0, len(centres), m)] + spread * rng.standard_normal((m, dim), np.float32)
        out[i : i + m] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def latencies_ms(index: faiss.Index, queries: np.ndarray, threads: int, k: int = 10) -> tuple[float, float]:
    """p50 / p99 of single-query searches with ``threads`` FAISS threads, after two warm-up queries."""
    faiss.omp_set_num_threads(threads)
    for q in queries[:2]:
        index.search(q[None], k)
    times = []
    for q in queries:
        start = time.perf_counter()
        index.search(q[None], k)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True)) / truth.size


def timings(index: faiss.Index, queries: np.ndarray, threads: list[int]) -> str:
    parts = []
    for t in threads:
        p50, p99 = latencies_ms(index, queries, t)
        parts.append(f"{t} thr p50 {p50:7.2f} ms p99 {p99:7.2f} ms")
    return " | ".join(parts)


def exact_scaling(data: np.ndarray, queries: np.ndarray, threads: list[int]) -> None:
    print("\nexact search latency by size (what EXACT_MAX_VECTORS is chosen from)")
    for n in (10_000, 30_000, 50_000, 100_000, 300_000):
        if n < len(data):
            index, _ = vectors.build(np.arange(n), data[:n], "exact")
            print(f"  {n:>9,d} vectors: {timings(index, queries[:30], threads)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--spread", type=float, default=0.03, help="per-dimension noise around a centre")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="FAISS threads per query")
    parser.add_argument("--nprobe", type=int, nargs="*", default=[8, 16, 32, 64, 128])
    parser.add_argument("--hnsw-vectors", type=int, default=0)
    args = parser.parse_args()
    dim = get_config("openclap-small").projection.dim
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.clusters, dim)).astype(np.float32) / np.sqrt(dim)
    start = time.perf_counter()
    data = clustered(args.vectors, dim, centres, 1, args.spread)
    queries = clustered(args.queries, dim, centres, 2, args.spread)
    ids = np.arange(args.vectors, dtype=np.int64)
    print(
        f"{args.vectors:,d} x {dim} vectors in {args.clusters} clusters (spread {args.spread}), "
        f"{args.queries} queries (data made in {time.perf_counter() - start:.1f} s)"
    )
    faiss.omp_set_num_threads(max(args.threads))
    start = time.perf_counter()
    exact, _ = vectors.build(ids, data, "exact")
    print(f"\nexact: built in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    _, truth = exact.search(queries, 10)
    print(f"  ground truth for {args.queries} queries in {time.perf_counter() - start:.1f} s (one batch)")
    print(f"  single query: {timings(exact, queries[:30], args.threads)}")
    del exact

    faiss.omp_set_num_threads(max(args.threads))
    start = time.perf_counter()
    ivf, _ = vectors.build(ids, data, "ivf")
    inner = faiss.extract_index_ivf(ivf.index)
    print(
        f"\nivf (openclap.index default, {inner.nlist} lists): built in {time.perf_counter() - start:.1f} s"
    )
    default = vectors.default_nprobe(inner.nlist)
    for nprobe in sorted({*args.nprobe, default}):
        inner.nprobe = nprobe
        _, found = ivf.search(queries, 10)
        mark = "  <- default" if nprobe == default else ""
        hit = recall(found, truth)
        print(f"  nprobe {nprobe:4d}: recall@10 {hit:.3f}  {timings(ivf, queries, args.threads)}{mark}")
    del ivf
    exact_scaling(data, queries, args.threads)
    if args.hnsw_vectors:
        compare_hnsw(data[: args.hnsw_vectors], queries, dim, args.threads)


def compare_hnsw(data: np.ndarray, queries: np.ndarray, dim: int, threads: list[int]) -> None:
    n = len(data)
    faiss.omp_set_num_threads(max(threads))
    exact, _ = vectors.build(np.arange(n), data, "exact")
    _, truth = exact.search(queries, 10)
    print(f"\nHNSW against IVF on the first {n:,d} vectors")
    start = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 40
    hnsw.add(data)
    print(f"  hnsw M=32 efConstruction=40: built in {time.perf_counter() - start:.1f} s")
    for ef in (32, 128):
        hnsw.hnsw.efSearch = ef
        _, found = hnsw.search(queries, 10)
        print(
            f"    efSearch {ef:4d}: recall@10 {recall(found, truth):.3f}  {timings(hnsw, queries, threads)}"
        )
    faiss.omp_set_num_threads(max(threads))
    start = time.perf_counter()
    ivf, _ = vectors.build(np.arange(n), data, "ivf")
    built = time.perf_counter() - start
    _, found = ivf.search(queries, 10)
    hit = recall(found, truth)
    print(f"  ivf default: built in {built:.1f} s, recall@10 {hit:.3f}  {timings(ivf, queries, threads)}")


if __name__ == "__main__":
    main()
