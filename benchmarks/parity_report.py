"""Parity of openclap with the reference CLAP implementations, and audio embedding speed per family.

Usage: .venv/bin/python benchmarks/parity_report.py [--cases msclap-2022 ...] [--skip-parity] [--skip-speed]

Parity: each case of ``../shared/parity`` is rebuilt in its published file format, converted with
``openclap.convert``, fed the stored clips and token ids, and every expected tensor is compared; the
table gives the largest absolute difference (``*`` marks one outside README §6's tolerance).
``stored_*`` rows feed the reference's own log-mel to the encoder (front-end difference removed).
Speed: seconds to embed 8 clips of the family's clip length (front end + audio encoder + projection),
median of 3 passes after a warm-up, against the reference figures of ``../shared/docs/ENVIRONMENT.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "parity"))  # the shared test harness

from harness import compare, run_case, write_published
from rule import CASES, FIXTURE_CASES, case_data, case_dir, parity_dir, state_dict

from openclap.convert import convert
from openclap.factory import create_model

SPEED_MODELS = {  # registered config -> reference seconds for 8 clips on this CPU (ENVIRONMENT.md)
    "msclap-2022": 5.5,  # "Cnn14 + BERT (CLAP 2022), 8 clips x 5 s: ~5.5 s for audio"
    "msclap-2023": None,
    "laion-htsat-tiny": 6.5,  # "HTS-AT (LAION, 10 s clips): ~6.5 s for 8 clips"
    "laion-htsat-tiny-fusion": 6.5,
    "hf-clap-htsat-unfused": None,
}


def parity(cases: list[str]) -> dict[str, dict[str, tuple[float, bool]]]:
    root = parity_dir()
    if root is None:
        raise SystemExit("parity vectors not found (../shared/parity or $OPENCLAP_PARITY_DIR)")
    results = {}
    for case in cases:
        with tempfile.TemporaryDirectory() as tmp:
            src = write_published(case, state_dict(case_dir(case)), Path(tmp))
            model = convert(src, Path(tmp) / "openclap")
            inputs, expected, texts = case_data(case)
            results[case] = compare(case, run_case(model, case, inputs, expected, texts), expected)
        passed = sum(ok for _, ok in results[case].values())
        print(f"  {case}: {passed}/{len(results[case])} within tolerance", file=sys.stderr)
    return results


def print_parity(results: dict[str, dict[str, tuple[float, bool]]]) -> None:
    cases = list(results)
    names = sorted({n for r in results.values() for n in r},
                   key=lambda n: (n.startswith(("stored_", "tokenized_")), n))
    print("| tensor | " + " | ".join(cases) + " |")
    print("|---|" + "---|" * len(cases))
    for name in names:
        cells = []
        for case in cases:
            if name not in results[case]:
                cells.append("")
                continue
            diff, ok = results[case][name]
            cells.append(("0" if diff == 0 else f"{diff:.2g}") + ("" if ok else " *"))
        print(f"| {name} | " + " | ".join(cells) + " |")


def embed_seconds(name: str, clips: int = 8, repeats: int = 3) -> tuple[float, float, float]:
    """(median wall seconds and median process CPU seconds to embed ``clips`` random clips, clip length in
    seconds) of a registered model. On a shared machine the CPU time divided by the thread count is the
    better estimate of the unloaded wall time."""
    torch.manual_seed(0)
    model = create_model(name, pretrained=False)
    cfg = model.config.audio
    rng = np.random.default_rng(0)
    waves = [
        torch.from_numpy(rng.standard_normal(cfg.clip_samples).astype(np.float32) * 0.1) for _ in range(clips)
    ]
    times, cpu = [], []
    with torch.inference_mode():
        for i in range(repeats + 1):
            start, start_cpu = time.perf_counter(), time.process_time()
            model.encode_audio(model.prepare_waveforms(waves))
            if i:
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), statistics.median(cpu), cfg.clip_seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    every = [*CASES, *FIXTURE_CASES]  # the shared cases, then this repository's fixtures
    parser.add_argument("--cases", nargs="+", default=every, choices=every)
    parser.add_argument("--skip-parity", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    if not args.skip_parity:
        print("## Largest absolute difference to the reference (* = outside README §6 tolerance)\n")
        print_parity(parity(args.cases))
        print()
    if not args.skip_speed:
        print("## Audio embedding time, 8 clips (s)\n")
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
        print("| model | clip | openclap wall | openclap CPU / threads | reference |")
        print("|---|---|---|---|---|")
        for name, ref in SPEED_MODELS.items():
            wall, cpu, clip = embed_seconds(name)
            per_thread = cpu / torch.get_num_threads()
            print(f"| {name} | {clip:g} s | {wall:.2f} | {per_thread:.2f} | {'–' if ref is None else ref} |")


if __name__ == "__main__":
    main()
