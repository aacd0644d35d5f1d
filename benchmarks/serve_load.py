"""Load test of ``openclap serve`` on loopback: concurrent clients, mixed requests, latency percentiles.

Usage: .venv/bin/python benchmarks/serve_load.py INDEX CLIP... [--clients 50] [--requests 2000]
           [--max-seconds 900] [--threads N]
Starts ``openclap serve --index INDEX`` on a free 127.0.0.1 port in a subprocess (the index's own model),
waits for /health, then ``--clients`` asyncio clients send ``--requests`` requests in a fixed rotation
of five kinds: text search, search by example (an upload of one of the CLIPs), zero-shot classify (an
upload + five labels), embed text, and a 64 KiB HTTP range of an indexed file's audio. Every answer must
be 200 (206 for ranges); anything else, or a transport error, is counted as an error and the first few
are printed. Prints p50 / p99 latency per kind and overall, and requests per second. Bounded: the run
stops after ``--max-seconds`` (a timeout is reported as such). Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

KINDS = ("search_text", "search_example", "classify", "embed_text", "audio_range")
QUERIES = (
    "a dog barking",
    "rain on a roof",
    "a siren wailing",
    "church bells ringing",
    "a baby crying",
    "birds chirping",
    "footsteps",
    "a door knocks",
    "wind blowing",
    "a clock ticking",
)
LABELS = "dog, rain, siren, church bells, crying baby"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(index: str, extra: list[str], startup_seconds: float = 180.0) -> Iterator[str]:
    """``openclap serve --index INDEX`` on a free loopback port; yields its URL once /health answers."""
    port = free_port()
    command = [sys.executable, "-m", "openclap.cli", "serve", "--index", index, "--port", str(port), *extra]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"openclap serve exited ({proc.returncode}): {proc.stderr.read()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"openclap serve did not answer /health within {startup_seconds:g} s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def build_requests(clips: list[Path], item_ids: list[int], count: int) -> list[tuple[str, dict]]:
    """``count`` request specs: the five kinds in turn, cycling through queries, clips and items."""
    uploads = [(p.name, p.read_bytes()) for p in clips]
    queries, files, items = itertools.cycle(QUERIES), itertools.cycle(uploads), itertools.cycle(item_ids)
    specs = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        if kind == "search_text":
            spec = {"method": "GET", "url": "/search", "params": {"q": next(queries), "top_k": 10}}
        elif kind == "search_example":
            spec = {
                "method": "POST",
                "url": "/search",
                "files": {"file": next(files)},
                "data": {"top_k": "10"},
            }
        elif kind == "classify":
            spec = {
                "method": "POST",
                "url": "/classify",
                "files": {"file": next(files)},
                "data": {"labels": LABELS},
            }
        elif kind == "embed_text":
            spec = {"method": "POST", "url": "/embed/text", "json": {"texts": [next(queries)]}}
        else:
            spec = {"method": "GET", "url": f"/audio/{next(items)}", "headers": {"Range": "bytes=1024-66559"}}
        specs.append((kind, spec))
    return specs


async def run_load(url: str, specs: list[tuple[str, dict]], clients: int, max_seconds: float) -> dict:
    """Send ``specs`` with ``clients`` concurrent clients; latencies (s) per kind and error messages."""
    queue: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
    for spec in specs:
        queue.put_nowait(spec)
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            while not queue.empty():
                kind, spec = queue.get_nowait()
                started = time.perf_counter()
                try:
                    response = await http.request(**spec)
                    ok = response.status_code == (206 if kind == "audio_range" else 200)
                    problem = None if ok else f"{kind}: {response.status_code} {response.text[:200]}"
                except httpx.HTTPError as err:
                    problem = f"{kind}: {type(err).__name__} {err}"
                latencies[kind].append(time.perf_counter() - started)
                if problem:
                    errors.append(problem)

    started = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(client() for _ in range(clients))), max_seconds)
        timed_out = False
    except asyncio.TimeoutError:
        timed_out = True
    return {
        "latencies": dict(latencies),
        "errors": errors,
        "seconds": time.perf_counter() - started,
        "timed_out": timed_out,
    }


def summarize(result: dict) -> dict:
    """Per kind and overall: count, p50 / p99 latency in ms; requests per second; error count."""
    rows = {}
    everything = [x for values in result["latencies"].values() for x in values]
    for kind, values in [*sorted(result["latencies"].items()), ("all", everything)]:
        ms = 1000 * np.asarray(values)
        rows[kind] = {
            "count": len(values),
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
        }
    return {
        "kinds": rows,
        "errors": len(result["errors"]),
        "seconds": round(result["seconds"], 1),
        "requests_per_second": round(len(everything) / result["seconds"], 1),
        "timed_out": result["timed_out"],
    }


def first_items(url: str, count: int = 20) -> list[int]:
    hits = httpx.get(f"{url}/search", params={"q": "sound", "top_k": count}, timeout=60).json()["hits"]
    return [hit["item_id"] for hit in hits]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("index", help="index folder (openclap index build)")
    parser.add_argument(
        "clips", nargs="+", type=Path, help="audio clips to upload (search by example, classify)"
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop the run after this long")
    parser.add_argument("--threads", type=int, default=None, help="the server's torch threads")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    extra = ["--threads", str(args.threads)] if args.threads else []
    with serve(args.index, extra) as url:
        specs = build_requests(args.clips, first_items(url), args.requests)
        result = asyncio.run(run_load(url, specs, args.clients, args.max_seconds))
    summary = summarize(result)
    summary["machine"] = f"{os.cpu_count()} CPU cores (client and server share them)"
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        flag = " (TIMED OUT)" if summary["timed_out"] else ""
        print(
            f"{args.clients} clients, {summary['kinds']['all']['count']} requests in {summary['seconds']} s: "
            f"{summary['requests_per_second']} requests/s, {summary['errors']} errors{flag}; "
            f"{summary['machine']}"
        )
        for kind, row in summary["kinds"].items():
            print(
                f"  {kind:15s} n={row['count']:5d}  p50 {row['p50_ms']:8.1f} ms  p99 {row['p99_ms']:8.1f} ms"
            )
    for message in result["errors"][:5]:
        print(f"error: {message}", file=sys.stderr)
    sys.exit(1 if summary["errors"] or summary["timed_out"] else 0)


if __name__ == "__main__":
    main()
