"""Where the time of one audio batch goes, fp32 against bf16 autocast: torch.profiler's operator table.

Usage: .venv/bin/python benchmarks/precision_profile.py [--cases msclap-2023 laion-htsat-tiny-unfused
           hf-clap] [--batch 2] [--threads 1] [--repeats 1] [--top 14]

For each parity case (seeded weights in the published layout, converted by openclap; see ``seeded.py``):
``encode_audio`` on ``--batch`` noise clips of the clip length, one warm-up call per precision, then
``--repeats`` rounds of one profiled call in fp32 and one under ``set_precision("bf16")``, alternating
(operator times summed over the rounds). The table lists the operators with the
most self CPU time, each as a share of the **fp32** call's total, so that the two columns add up to the
bf16 / fp32 time ratio and show which operators bf16 made cheaper and which it made dearer. Shares, not
seconds: on a loaded machine only the ratios mean anything.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch
from seeded import parity_case
from torch.profiler import ProfilerActivity, profile

from openclap.model import ClapModel


def op_times(model: ClapModel, wave: torch.Tensor, precision: str, times: dict[str, float]) -> None:
    """Add the self CPU microseconds per operator of one ``encode_audio(wave)`` call to ``times``."""
    model.set_precision(precision)
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
        model.encode_audio(wave)
    for event in prof.key_averages():
        times[event.key] += event.self_cpu_time_total


def profiles(model: ClapModel, wave: torch.Tensor, repeats: int) -> dict[str, dict[str, float]]:
    """Operator times per precision, warm-up first, then fp32 and bf16 alternating ``repeats`` times."""
    out: dict[str, dict[str, float]] = {p: defaultdict(float) for p in ("fp32", "bf16")}
    with torch.inference_mode():
        for precision in out:
            model.set_precision(precision).encode_audio(wave)
    for _ in range(repeats):
        for precision, times in out.items():
            op_times(model, wave, precision, times)
    return out


def share_table(name: str, fp32: dict[str, float], bf16: dict[str, float], top: int) -> None:
    total = sum(fp32.values())
    ops = sorted(set(fp32) | set(bf16), key=lambda k: -max(fp32.get(k, 0.0), bf16.get(k, 0.0)))
    print(f"\n### {name}: bf16 / fp32 total = {sum(bf16.values()) / total:.2f}\n")
    print("| operator | fp32 share | bf16 (of the fp32 total) | bf16 / fp32 |")
    print("|---|---|---|---|")
    for op in ops[:top]:
        a, b = fp32.get(op, 0.0), bf16.get(op, 0.0)
        ratio = f"{b / a:.2f}" if a else "new"
        print(f"| `{op}` | {100 * a / total:.1f} % | {100 * b / total:.1f} % | {ratio} |")
    rest_a = sum(fp32.get(k, 0.0) for k in ops[top:])
    rest_b = sum(bf16.get(k, 0.0) for k in ops[top:])
    print(f"| (the other {len(ops) - top}) | {100 * rest_a / total:.1f} % | {100 * rest_b / total:.1f} % | |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="+", default=["msclap-2023", "laion-htsat-tiny-unfused", "hf-clap"])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--top", type=int, default=14)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, {args.repeats} rounds")
    for name in args.cases:
        model = parity_case(name).model
        samples = model.config.audio.clip_samples
        wave = torch.from_numpy(
            np.random.default_rng(0).standard_normal((args.batch, samples)).astype(np.float32) * 0.1
        )
        times = profiles(model, wave, args.repeats)
        share_table(name, times["fp32"], times["bf16"], args.top)


if __name__ == "__main__":
    main()
