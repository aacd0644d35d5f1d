"""Compiled audio towers with and without huge pages for large tensors (``openclap.allocator``), alternating.

Usage: .venv/bin/python benchmarks/huge_pages.py [--models openclap-yamnet msclap-2023 msclap-2022]
           [--precisions fp32 bf16] [--batch-size 32] [--rounds 3] [--eager]

For each model and precision, ``--rounds`` pairs of child processes run one after the other, one with
``THP_MEM_ALLOC_ENABLE=0`` and one with ``=1`` (which the ``openclap`` command sets); each child loads
the model (random weights for the published families, the shipped ones for ``openclap-yamnet``), loads
its compiled package (``compile_towers``; build each once beforehand, a first build is not timed) or
stays eager with ``--eager``, and times ``encode_audio`` on one batch of noise clips: two warm-up calls,
then the median of five. Printed per pair: clips/s without and with, the ratio, and each child's peak
resident memory; then the median ratio over the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from speedlib import run_child

from openclap import list_models


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
    times = []
    with torch.inference_mode():
        for i in range(7):
            start = time.perf_counter()
            model.encode_audio(wave)
            if i >= 2:
                times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"clips_per_s": spec["batch"] / statistics.median(times), "peak_rss_mb": peak}


def run(spec: dict, huge: bool) -> dict:  # type: ignore[type-arg]
    env = {**os.environ, "THP_MEM_ALLOC_ENABLE": "1" if huge else "0"}
    result = run_child(sys.executable, Path(__file__), spec, env)
    if "error" in result:
        raise SystemExit(f"child failed: {result['error']}")
    return result


def main() -> None:
    if len(sys.argv) == 2 and sys.argv[1].startswith("{"):
        print(json.dumps(child(json.loads(sys.argv[1]))))
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
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--eager", action="store_true", help="time eager towers instead of compiled ones")
    args = parser.parse_args()
    print(
        f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; batch {args.batch_size}; "
        f"{'eager' if args.eager else 'compiled'}"
    )
    for name in args.models:
        for precision in args.precisions:
            spec = {"model": name, "precision": precision, "batch": args.batch_size, "eager": args.eager}
            ratios = []
            for _ in range(args.rounds):
                off, on = run(spec, False), run(spec, True)
                ratios.append(on["clips_per_s"] / off["clips_per_s"])
                print(
                    f"  {name} {precision}: 4 KiB pages {off['clips_per_s']:.1f} clips/s "
                    f"({off['peak_rss_mb']:.0f} MB), huge pages {on['clips_per_s']:.1f} "
                    f"({on['peak_rss_mb']:.0f} MB): {ratios[-1]:.2f}x",
                    flush=True,
                )
            print(f"{name} {precision}: median {statistics.median(ratios):.2f}x", flush=True)


if __name__ == "__main__":
    main()
