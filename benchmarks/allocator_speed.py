"""Audio towers under each way of allocating large tensors (``openclap.allocator``), alternating processes.

Usage: .venv/bin/python benchmarks/allocator_speed.py [--models openclap-yamnet msclap-2023 msclap-2022]
           [--precisions fp32 bf16] [--batch-size 32] [--rounds 3] [--eager]
           [--configs 4k huge keep command]

Configurations, each set through the environment of a child process:

- ``4k``: glibc's malloc as it comes, 4 KiB pages (``THP_MEM_ALLOC_ENABLE=0``);
- ``huge``: torch's huge pages for tensors of 2 MB and more (``THP_MEM_ALLOC_ENABLE=1``);
- ``keep``: freed memory kept in glibc's heap (``MALLOC_MMAP_THRESHOLD_`` 1 GiB,
  ``MALLOC_TRIM_THRESHOLD_`` 2 GiB), 4 KiB pages;
- ``command``: both, as the ``openclap`` command sets them (``configure_allocator``).

For each model and precision, ``--rounds`` rounds each run one child per configuration, one after the
other. A child loads the model (random weights for the published families, the shipped ones for
``openclap-yamnet``), loads its compiled package (``compile_towers``; build each once beforehand, a first
build is not timed) or stays eager with ``--eager``, and times ``encode_audio`` on one batch of noise
clips: two warm-up calls, then seven. Printed per child: clips/s (median and best of the seven), the
median minor page faults per call, and its peak resident memory; then, per configuration, the median
over the rounds of its clips/s.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from speedlib import run_child, serve_child

from openclap import list_models
from openclap.allocator import ALLOCATOR_ENV, ENV, MALLOC_ENV, command_environment
from openclap.cli_errors import positive_int

CONFIGS = {
    "4k": {ENV: "0"},
    "huge": {ENV: "1"},
    "keep": {ENV: "0", **MALLOC_ENV},
    "command": command_environment(),
}


def child(spec: dict) -> dict:  # type: ignore[type-arg]
    from openclap import create_model

    torch.set_num_threads(2)
    torch.manual_seed(0)
    name = spec["model"]
    model = create_model(name, pretrained=name == "openclap-yamnet", text=False)
    model = model.set_precision(spec["precision"]).eval()
    if not spec["eager"]:
        model.compile_towers()
    g = torch.Generator().manual_seed(0)
    wave = 0.1 * torch.randn(spec["batch"], model.config.audio.clip_samples, generator=g)
    times, faults = [], []
    with torch.inference_mode():
        for i in range(9):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            start = time.perf_counter()
            model.encode_audio(wave)
            if i >= 2:
                times.append(time.perf_counter() - start)
                faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return {
        "clips_per_s": spec["batch"] / statistics.median(times),
        "best_clips_per_s": spec["batch"] / min(times),
        "faults_per_call": statistics.median(faults),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run(spec: dict, config: str) -> dict:  # type: ignore[type-arg]
    env = {k: v for k, v in os.environ.items() if k not in ALLOCATOR_ENV}
    result = run_child(sys.executable, Path(__file__), spec, {**env, **CONFIGS[config]})
    if "error" in result:
        raise SystemExit(f"child failed: {result['error']}")
    return result


def main() -> None:
    if serve_child(child):
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=["openclap-yamnet", "msclap-2023", "msclap-2022"],
        choices=list_models(),
    )
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--eager", action="store_true", help="time eager towers instead of compiled ones")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args()
    print(
        f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; batch {args.batch_size}; "
        f"{'eager' if args.eager else 'compiled'}"
    )
    for name in args.models:
        for precision in args.precisions:
            spec = {"model": name, "precision": precision, "batch": args.batch_size, "eager": args.eager}
            rates: dict[str, list[float]] = {config: [] for config in args.configs}
            for _ in range(args.rounds):
                for config in args.configs:
                    r = run(spec, config)
                    rates[config].append(r["clips_per_s"])
                    print(
                        f"  {name} {precision} {config:>7}: {r['clips_per_s']:.1f} clips/s (best "
                        f"{r['best_clips_per_s']:.1f}), {r['faults_per_call']:.0f} faults per call, "
                        f"{r['peak_rss_mb']:.0f} MB",
                        flush=True,
                    )
            medians = ", ".join(f"{c} {statistics.median(v):.1f}" for c, v in rates.items())
            print(f"{name} {precision}: median clips/s {medians}", flush=True)


if __name__ == "__main__":
    main()
