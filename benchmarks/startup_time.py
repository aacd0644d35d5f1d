"""Start-up time of the ``openclap`` command: ``--help``, ``import openclap``, ``models``, the time
to the first line of ``classify`` output and a small ``index build`` (the 400 ESC-50 fold-4 clips into a
new index, start to exit), each run several times in fresh processes, alternating with a baseline
source tree (e.g. an older checkout) so both see the same machine load.

    .venv/bin/python benchmarks/startup_time.py --runs 7 --baseline /tmp/openclap-main/src

prints, per case, the median and min wall seconds to the first output line and the median CPU seconds
(user + system, whole process: less sensitive to other load on the machine) for this tree (``src/``)
and the baseline, and the ratios baseline / this tree.
Build the baseline with ``git archive main src | tar -x -C /tmp/openclap-main``.
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

from speedlib import children_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT.parent / "shared" / "data" / "esc50-fold4" / "audio"
CLIP = AUDIO / "4-102844-A-49.flac"
# What the console script runs: ``entry`` (allocator and OpenMP set up, then ``main``), or ``main`` in a
# baseline that predates it (and may lack ``python -m openclap``).
OPENCLAP = ["-c", "import sys, openclap.cli as c; sys.exit(getattr(c, 'entry', c.main)())"]
CASES = {
    "openclap --help": [*OPENCLAP, "--help"],
    "import openclap": ["-c", "import openclap; print('ok')"],
    "openclap models": [*OPENCLAP, "models"],
    "classify, first line": [*OPENCLAP, "classify", str(CLIP), "--labels", "dog,rain,siren"],
    "index build 400, exit": [*OPENCLAP, "index", "build", str(AUDIO), "--out", "{out}", "--quiet"],
}
TO_EXIT = {"index build 400, exit"}  # cases timed to the process's exit ("{out}": a new folder each run)


def first_line_seconds(src: Path, args: list[str], to_exit: bool = False) -> tuple[float, float]:
    """(wall seconds from start to the first stdout line, or to the exit with ``to_exit``, CPU seconds of
    the whole process); "{out}" in ``args`` becomes a folder that does not exist yet."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    with tempfile.TemporaryDirectory() as scratch:
        args = [a.replace("{out}", str(Path(scratch) / "out")) for a in args]
        return _timed(args, env, to_exit)


def _timed(args: list[str], env: dict[str, str], to_exit: bool) -> tuple[float, float]:
    before = children_cpu_seconds()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    took = time.perf_counter() - start
    proc.communicate()
    if to_exit:
        took = time.perf_counter() - start
    if proc.returncode != 0 or not (line or to_exit):
        raise SystemExit(f"{args} failed with {env['PYTHONPATH']} (exit {proc.returncode})")
    return took, children_cpu_seconds() - before


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="runs per case and tree (default: 7)")
    parser.add_argument("--baseline", type=Path, required=True, help="the baseline's src/ folder")
    parser.add_argument("--tree", type=Path, default=ROOT / "src", help="the src/ folder measured (this one)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES), metavar="CASE")
    args = parser.parse_args()
    trees = {"this tree": args.tree, "baseline": args.baseline}
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start, {args.runs} runs")
    head = ("wall median/min", "CPU")
    print(
        f"{'case':24s} | this tree: {head[0]:>15s} {head[1]:>6s} | baseline: {head[0]:>15s} {head[1]:>6s} "
        "| ratio wall, CPU"
    )
    for case in args.cases:
        wall: dict[str, list[float]] = {name: [] for name in trees}
        cpu: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.runs):
            for name, src in trees.items():  # alternating, so load changes hit both alike
                took, used = first_line_seconds(src, CASES[case], case in TO_EXIT)
                wall[name].append(took)
                cpu[name].append(used)
        cells = [
            f"{statistics.median(wall[n]):7.2f}/{min(wall[n]):.2f} s {statistics.median(cpu[n]):6.2f}"
            for n in trees
        ]
        ratios = [statistics.median(m["baseline"]) / statistics.median(m["this tree"]) for m in (wall, cpu)]
        print(f"{case:24s} | {cells[0]:>33s} | {cells[1]:>32s} | {ratios[0]:5.1f}x, {ratios[1]:5.1f}x")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
