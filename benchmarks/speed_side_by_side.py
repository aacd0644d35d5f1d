"""openclap and the reference code in ONE process, calls interleaved: the speed ratio that load cannot bias.

Usage: .venv/bin/python benchmarks/speed_side_by_side.py
           [--families msclap-2022 msclap-2023 laion-htsat-tiny-unfused hf-clap]
           [--batch 8] [--rounds 3] [--threads 2] [--reference-site SITE_PACKAGES]

The parity cases' seeded weights are written in the published layout; openclap converts them and the
reference loads them (msclap's ``CLAPWrapper`` and laion_clap's ``CLAP_Module`` imported from the
reference environment's site-packages, without its transformers pin: their audio towers are their own
code; transformers' ``ClapModel``). Each round calls openclap's ``encode_audio`` and the reference's
audio embedding on the same batch, one after the other, in fp32 and then under bf16 autocast (rounds
interleave the precisions too); the ratio of medians is printed per family, with each side's bf16 speed-up
and the largest absolute difference of the two sides' L2-normalised embeddings of the batch.
``speed_compare.py`` gives the fuller table (latency, text, FLOPs, memory) from separate processes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from speedlib import autocast, max_abs_diff, unit_rows

SITE = "/work/benchenv-h21/lib/python3.11/site-packages"
IMPL = {  # family -> reference (reference_speed.CALLS)
    "msclap-2022": "msclap",
    "msclap-2023": "msclap",
    "laion-htsat-tiny-unfused": "laion",
    "hf-clap": "hf",
}


def reference_audio(family: str, ckpt: Path, inputs: Path, rate: int) -> Any:
    """The reference's audio call [B, N] -> embeddings (msclap or transformers)."""
    from reference_speed import CALLS

    spec = {"ckpt": str(ckpt), "inputs": str(inputs), "sample_rate": rate, "version": family[-4:]}
    audio, _, _ = CALLS[IMPL[family]](spec)
    return audio


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def interleaved(
    ours: Any, ref: Any, clips: torch.Tensor, rounds: int
) -> dict[str, tuple[float, float, float]]:
    """Per precision: median seconds of openclap's and the reference's call and the largest difference of
    their normalised embeddings. Each round runs openclap then the reference, fp32 then bf16, so a
    change of load hits both sides and both precisions alike; the first round warms up."""
    times: dict[str, tuple[list[float], list[float]]] = {"fp32": ([], []), "bf16": ([], [])}
    diffs = {}
    with torch.inference_mode():
        for i in range(rounds + 1):
            for precision, (t_ours, t_ref) in times.items():
                a, mine = timed(ours.set_precision(precision).encode_audio, clips)
                with autocast(precision):
                    b, theirs = timed(ref, clips)
                if i:
                    t_ours.append(a)
                    t_ref.append(b)
                diffs[precision] = max_abs_diff(unit_rows(mine, len(clips)), unit_rows(theirs, len(clips)))
    return {
        p: (statistics.median(t_ours), statistics.median(t_ref), diffs[p] or 0.0)
        for p, (t_ours, t_ref) in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--families", nargs="+", default=list(IMPL), choices=list(IMPL))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reference-site", default=SITE)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from seeded import parity_dir, state_dict, write_published

    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, {args.rounds} rounds\n")
    print(
        "| family | precision | openclap s/batch | reference s/batch | openclap / reference speed "
        "| speed over fp32 (openclap / reference) | max abs diff |"
    )
    print("|---|---|---|---|---|---|---|")
    for family in args.families:
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = write_published(family, state_dict(parity_dir() / family), Path(tmp))
            from openclap import create_model

            ours = create_model(checkpoint=ckpt)
            if IMPL[family] != "hf":  # msclap / laion_clap, torchlibrosa, torchaudio / torchvision stand-ins
                sys.path.append(args.reference_site)
                sys.path.append(str(Path(__file__).resolve().parent / "reference_env"))
            inputs = parity_dir() / family / "inputs.safetensors"
            ref = reference_audio(family, ckpt, inputs, ours.config.audio.sample_rate)
            rng = np.random.default_rng(0)
            clips = torch.from_numpy(
                rng.standard_normal((args.batch, ours.config.audio.clip_samples)).astype(np.float32) * 0.1
            )
            rows = interleaved(ours, ref, clips, args.rounds)
            for precision, (t_ours, t_ref, diff) in rows.items():
                gain = f"{rows['fp32'][0] / t_ours:.2f}x / {rows['fp32'][1] / t_ref:.2f}x"
                print(
                    f"| {family} | {precision} | {t_ours:.3f} | {t_ref:.3f} | {t_ref / t_ours:.2f}x "
                    f"| {gain} | {diff:.1e} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
