"""Start-up time of the ``openclap`` command: ``--help``, ``import openclap``, ``models`` and the time
to the first line of ``classify`` output, each run several times in fresh processes, alternating with a
baseline source tree (e.g. an older checkout) so both see the same machine load.

    .venv/bin/python benchmarks/startup_time.py --runs 7 --baseline /tmp/openclap-main/src

prints the median and min seconds per case for this tree (``src/``) and the baseline, and their ratio.
Build the baseline with ``git archive main src | tar -x -C /tmp/openclap-main``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "data" / "esc50-fold4" / "audio" / "4-102844-A-49.flac"
# What the console script runs (the baseline may lack ``python -m openclap``).
OPENCLAP = ["-c", "import sys; from openclap.cli import main; sys.exit(main(sys.argv[1:]))"]
CASES = {
    "openclap --help": [*OPENCLAP, "--help"],
    "import openclap": ["-c", "import openclap; print('ok')"],
    "openclap models": [*OPENCLAP, "models"],
    "classify, first line": [*OPENCLAP, "classify", str(CLIP), "--labels", "dog,rain,siren"],
}


def first_line_seconds(src: Path, args: list[str]) -> float:
    """Seconds from starting the process to its first line on stdout (then it is waited for)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    took = time.perf_counter() - start
    proc.communicate()
    if proc.returncode != 0 or not line:
        raise SystemExit(f"{args} failed with {src} (exit {proc.returncode})")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="runs per case and tree (default: 7)")
    parser.add_argument("--baseline", type=Path, required=True, help="the baseline's src/ folder")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES), metavar="CASE")
    args = parser.parse_args()
    trees = {"this tree": ROOT / "src", "baseline": args.baseline}
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start, {args.runs} runs")
    print(f"{'case':24s} {'this tree (median/min s)':>26s} {'baseline (median/min s)':>26s} {'ratio':>7s}")
    for case in args.cases:
        times: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.runs):
            for name, src in trees.items():  # alternating, so load changes hit both alike
                times[name].append(first_line_seconds(src, CASES[case]))
        ours, base = (statistics.median(times[name]) for name in trees)
        cells = [f"{statistics.median(t):.2f} / {min(t):.2f}" for t in times.values()]
        print(f"{case:24s} {cells[0]:>26s} {cells[1]:>26s} {base / ours:6.1f}x")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
