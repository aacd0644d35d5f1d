"""Timing helpers shared by ``speed_compare.py`` (openclap's venv) and ``reference_speed.py`` (the reference
environment): nothing here imports openclap or a reference implementation."""

from __future__ import annotations

import contextlib
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(
    dtype: torch.dtype, sizes: tuple[int, ...] = (2048, 3072), repeats: int = 3
) -> dict[str, float]:
    """This CPU's rate for a square matrix product in GFLOP/s: for each library the faster of ``sizes``
    (``n``^3 products, median of ``repeats`` after a warm-up). ``blas`` is torch's ``a @ b`` (MKL on
    x86-64 wheels for fp32, which takes an AVX2 path on AMD CPUs; oneDNN for bf16), ``onednn`` oneDNN's
    product (``torch.ops.mkldnn._linear_pointwise``, 0 where it is missing), ``best`` the larger: the
    rate a FLOP bound is taken against. Two sizes because a power of two alone can read low: on 2 MiB
    huge pages (``openclap.allocator``) every matrix starts on the same cache sets, and oneDNN's 2048^3
    product ran at 296 GFLOP/s against 480 with 4 KiB pages, while 3072^3 ran at 458 either way."""
    rates = {"blas": 0.0, "onednn": 0.0}
    for n in sizes:
        for library in ("blas", "onednn"):
            call, gflop = product(dtype, library, n)
            try:
                rates[library] = max(rates[library], gflop / median_seconds(call, repeats))
            except (RuntimeError, AttributeError, NotImplementedError):
                if library == "blas":
                    raise
                # oneDNN's product is missing from this torch build: its rate stays 0
    rates["best"] = max(rates["blas"], rates["onednn"])
    return rates


def children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's finished children so far (a difference of two calls
    is the CPU of the children that ended between them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def autocast(precision: str) -> contextlib.AbstractContextManager[Any]:
    """The precision context a reference runs under (openclap sets its own via ``set_precision``)."""
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def batch_rows(
    fn: Callable[[int], Callable[[], Any]], batch_sizes: list[int], repeats: int
) -> dict[str, Any]:
    """``{"b1": {"seconds": s, "items_per_s": n}, ...}``: ``fn(batch)`` returns the call to time."""
    out = {}
    for batch in batch_sizes:
        seconds = median_seconds(fn(batch), repeats)
        out[f"b{batch}"] = {"seconds": seconds, "items_per_s": batch / seconds}
    return out


def alternating_rows(
    fns: dict[str, Callable[[int], Callable[[], Any]]], batch_sizes: list[int], repeats: int
) -> dict[str, dict[str, Any]]:
    """``batch_rows`` for several variants at once (``{"fp32": fn, "bf16": fn}``), their calls taking
    turns: each round times every variant once, each timed call right after an untimed one of the same
    variant (its weights back in the caches), and each variant's row is the median of its ``repeats``
    rounds (each row also keeps its ``rounds``' seconds, in order, so that a ratio can be taken round by
    round). A ratio of two variants then compares calls made moments apart: on a shared host, timing one
    variant's calls in a stretch and then the other's moved msclap-2023's bf16 / fp32 from 1.71x to
    1.83x between runs of the same code (docs/speed.md)."""
    out: dict[str, dict[str, Any]] = {key: {} for key in fns}
    for batch in batch_sizes:
        calls = {key: fn(batch) for key, fn in fns.items()}
        times: dict[str, list[float]] = {key: [] for key in fns}
        for _ in range(repeats):
            for key, call in calls.items():
                call()
                start = time.perf_counter()
                call()
                times[key].append(time.perf_counter() - start)
        for key, seconds in times.items():
            median = statistics.median(seconds)
            out[key][f"b{batch}"] = {"seconds": median, "items_per_s": batch / median, "rounds": seconds}
    return out


def product(dtype: torch.dtype, library: str, n: int = 3072) -> tuple[Callable[[], Any], float]:
    """``(call, GFLOP)`` of one ``n``^3 square product in ``dtype`` through ``library`` (``blas``: torch's
    ``a @ b``; ``onednn``: oneDNN's product), as ``matmul_gflops`` times it: a call that can take turns
    with a model's (``alternating_rows``), so that a FLOP bound and the model's time are measured moments
    apart. 3072 rather than 2048: on huge pages a power of two can read low (``matmul_gflops``)."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=g).to(dtype) for _ in range(2))

    def call() -> Any:
        with torch.no_grad():
            if library == "onednn":
                return torch.ops.mkldnn._linear_pointwise(a, b, None, "none", [], "")
            return a @ b

    return call, 2 * n**3 / 1e9


def share_by_rounds(flops: float, batch: int, model_rounds: list[float], product_rounds: list[float],
                    product_gflop: float) -> dict[str, float]:
    """A model's share of the FLOP bound taken round by round against a product timed beside it
    (``alternating_rows``): each round's ``flops * batch / model seconds`` over that round's product rate;
    the median share and the median product rate (GFLOP/s)."""
    rates = [product_gflop / s for s in product_rounds]
    shares = [flops * batch / 1e9 / m / r for m, r in zip(model_rounds, rates, strict=True)]
    return {"share": statistics.median(shares), "rate": statistics.median(rates)}


def unit_rows(out: Any, n: int = 2) -> list[list[float]]:
    """The first ``n`` embeddings of a call's output, L2-normalised, as lists (JSON): how openclap and a
    reference are compared (msclap returns unnormalised vectors, transformers 5 an output object)."""
    rows = torch.as_tensor(getattr(out, "pooler_output", out))[:n].float()
    return torch.nn.functional.normalize(rows, dim=-1).tolist()


def max_abs_diff(a: list[list[float]] | None, b: list[list[float]] | None) -> float | None:
    """Largest absolute difference of two ``unit_rows`` results (None when either is missing)."""
    if a is None or b is None:
        return None
    return float((torch.tensor(a) - torch.tensor(b)).abs().max())


def timed_call(fn: Callable[[], Any], repeats: int = 1) -> tuple[float, Any]:
    """(wall seconds, result) of the fastest of ``repeats`` calls of ``fn()`` after one that warms up: a
    run of a few hundred milliseconds on a shared host is otherwise as noisy as its neighbours."""
    out = fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def serve_child(measure: Callable[[dict[str, Any]], dict[str, Any]]) -> bool:
    """The other end of ``run_child``: when this process was started with one JSON argument, print
    ``measure(spec)`` as JSON and return True (the caller then returns); else False."""
    if len(sys.argv) == 2 and sys.argv[1].startswith("{"):
        print(json.dumps(measure(json.loads(sys.argv[1]))))
        return True
    return False


def run_child(python: str, script: Path, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """``python script JSON(spec)`` in a fresh process; its last stdout line parsed as JSON, or
    ``{"error": its last stderr line}`` when it fails."""
    out = subprocess.run([python, str(script), json.dumps(spec)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return {
            "error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
        }
    return json.loads(out.stdout.strip().splitlines()[-1])
