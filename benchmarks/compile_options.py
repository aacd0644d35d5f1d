"""Inductor options for the compiled audio package, side by side in one process: for each option set a
package is built into a temporary folder (``openclap.compiled.build_package``), then the packages and
eager alternate in the timing loop (rounds of two calls each; the best round of each is printed), with
each package's largest difference and smallest cosine to eager at the same precision.

Usage: .venv/bin/python benchmarks/compile_options.py [--model openclap-yamnet] [--batch-size 16]
           [--precision fp32] [--sets plain frozen] [--rounds 3]
Option sets: ``plain`` (inductor's defaults), ``frozen`` (``freezing``), ``frozen-casts`` (``freezing`` and
``emulate_precision_casts``: what ``openclap.compiled`` uses).
Models other than ``openclap-yamnet`` run with seeded random weights (the published families' speed
without their downloads). Building takes 10-60 s per set.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from openclap import create_model
from openclap.compiled import build_package, load_package

SETS: dict[str, dict[str, Any]] = {
    "plain": {},
    "frozen": {"freezing": True},
    "frozen-casts": {"freezing": True, "emulate_precision_casts": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="openclap-yamnet")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    trained = args.model == "openclap-yamnet"
    model = create_model(args.model, pretrained=trained, text=False).set_precision(args.precision).eval()
    g = torch.Generator().manual_seed(0)
    wave = 0.1 * torch.randn(args.batch_size, model.config.audio.clip_samples, generator=g)
    runs: dict[str, Any] = {"eager": model.encode_audio}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            start = time.perf_counter()
            path = Path(tmp) / f"{name}.pt2"
            build_package(model, path, SETS[name])
            runs[name] = load_package(path)
            print(f"{name}: built in {time.perf_counter() - start:.1f} s, {path.stat().st_size / 1e6:.1f} MB")
        with torch.inference_mode():
            reference = model.encode_audio(wave).float()
            for name in args.sets:
                out = runs[name](wave).float()
                cosine = F.cosine_similarity(out, reference).min().item()
                diff = (out - reference).abs().max().item()
                print(f"{name}: max abs diff to eager {diff:.1e}, min cosine {cosine:.6f}")
            best = dict.fromkeys(runs, float("inf"))
            for _ in range(args.rounds):
                for name, run in runs.items():  # alternating, so load changes hit all alike
                    start = time.perf_counter()
                    run(wave)
                    run(wave)
                    best[name] = min(best[name], (time.perf_counter() - start) / 2)
    threads = torch.get_num_threads()
    print(f"{args.model} {args.precision}, batch {args.batch_size}, {threads} threads, clips/s:")
    print(json.dumps({name: round(args.batch_size / seconds, 1) for name, seconds in best.items()}))


if __name__ == "__main__":
    main()
