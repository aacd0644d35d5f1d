"""Seconds until a zero-shot classifier over many labels is ready, this checkout against another one.

Usage: .venv/bin/python benchmarks/classify_labels_speed.py LABELS.txt CLIP [--baseline-src DIR]
           [--model openclap-yamnet] [--threads 2] [--repeats 2]

Runs, alternating in one process tree so that both see the same machine load:
- ``build``: building the classifier in-process (``ZeroShotClassifier``) with the cache off, and with a
  warm ``LabelCache`` (the second and later runs of ``openclap classify``);
- ``cli``: the whole ``openclap classify CLIP --labels-file LABELS.txt`` command (start-up, model load,
  labels, one clip), with an empty and with a warm label cache;
each for this checkout's ``src`` and, with ``--baseline-src`` (e.g. ``git archive main src | tar -x``),
for that one. Prints the median seconds per row.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

BUILD = """
import sys, time, torch
torch.set_num_threads({threads})
from openclap import create_model, ZeroShotClassifier
labels = open({labels!r}).read().split("\\n")
labels = [x.strip() for x in labels if x.strip()]
model = create_model({model!r})
kwargs = {{}}
if {cached}:
    from openclap.text.label_cache import LabelCache
    kwargs["cache"] = LabelCache({cache_dir!r})
    ZeroShotClassifier(model, labels, **kwargs)  # fills the cache
start = time.perf_counter()
ZeroShotClassifier(model, labels, **kwargs)
print(time.perf_counter() - start)
"""


def _env(src: Path, cache_dir: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(src), "OPENCLAP_CACHE_DIR": cache_dir}


def time_build(src: Path, args: argparse.Namespace, cached: bool) -> float:
    with tempfile.TemporaryDirectory() as cache_dir:
        code = BUILD.format(
            threads=args.threads, labels=args.labels, model=args.model, cached=cached, cache_dir=cache_dir
        )
        out = subprocess.run(
            [sys.executable, "-c", code], env=_env(src, cache_dir), check=True, capture_output=True, text=True
        )
        return float(out.stdout.strip().splitlines()[-1])


def time_cli(src: Path, args: argparse.Namespace, cache_dir: str) -> float:
    command = [
        sys.executable,
        "-m",
        "openclap.cli",
        "classify",
        args.clip,
        "--labels-file",
        args.labels,
        "--model",
        args.model,
        "--threads",
        str(args.threads),
    ]
    start = time.perf_counter()
    subprocess.run(command, env=_env(src, cache_dir), check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("labels", help="text file, one label per line")
    parser.add_argument("clip", help="one audio file to classify")
    parser.add_argument("--baseline-src", type=Path, default=None, help="another checkout's src folder")
    parser.add_argument("--model", default="openclap-yamnet")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    sources = {"this": SRC} | ({"baseline": args.baseline_src} if args.baseline_src else {})
    times: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, src in sources.items():
            has_cache = (src / "openclap" / "text" / "label_cache.py").is_file()
            times.setdefault(f"{name} build, no cache", []).append(time_build(src, args, cached=False))
            if has_cache:
                times.setdefault(f"{name} build, warm cache", []).append(time_build(src, args, cached=True))
            with tempfile.TemporaryDirectory() as cache_dir:
                times.setdefault(f"{name} cli, empty cache", []).append(time_cli(src, args, cache_dir))
                if has_cache:
                    times.setdefault(f"{name} cli, warm cache", []).append(time_cli(src, args, cache_dir))
    n_labels = sum(1 for line in Path(args.labels).read_text(encoding="utf-8").splitlines() if line.strip())
    print(f"{n_labels} labels, model {args.model}, {args.threads} torch threads, {args.repeats} repeats")
    for row, values in times.items():
        print(
            f"{row:28s} median {statistics.median(values):6.2f} s  ({', '.join(f'{v:.2f}' for v in values)})"
        )


if __name__ == "__main__":
    main()
