"""``openclap embed FOLDER`` as a user runs it, timed from process start to exit (import, model load,
decoding, model, writing, shutdown), for this source tree beside a baseline tree, alternating run by run
so both see the same machine load.

    .venv/bin/python benchmarks/embed_cli_speed.py --runs 6 --baseline /tmp/openclap-main/src \\
        --options "" "--precision bf16 --compile"

prints, per option set, the median and range of wall seconds, the median files/s and the median CPU
seconds (user + system of the process and its children) for each tree, and the ratio baseline / this tree.
Both trees run ``python -m openclap`` (each its own ``__main__``). Build the baseline with
``git archive COMMIT src | tar -x -C /tmp/openclap-main``. With ``--compile`` in the options, run each
tree once beforehand so that its package is built (a first build takes 15-60 s and is not timed here).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from speedlib import children_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT.parent / "shared" / "data" / "esc50-fold4" / "audio"


def run_once(src: Path, folder: Path, options: list[str], out: Path) -> tuple[float, float]:
    """(wall seconds from start to exit, CPU seconds of the process and its children)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, "-m", "openclap", "embed", str(folder), "--out", str(out), "--quiet", *options]
    before = children_cpu_seconds()
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed with {src}: {proc.stderr.strip()[-500:]}")
    return took, children_cpu_seconds() - before


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=6, help="runs per option set and tree (default: 6)")
    parser.add_argument("--baseline", type=Path, required=True, help="the baseline's src/ folder")
    parser.add_argument("--tree", type=Path, default=ROOT / "src", help="the src/ folder measured (this one)")
    parser.add_argument("--folder", type=Path, default=FOLDER, help=f"audio folder (default: {FOLDER})")
    parser.add_argument(
        "--options", nargs="+", default=[""], help='embed options per set, each one string ("" = defaults)'
    )
    args = parser.parse_args()
    files = sum(1 for p in args.folder.rglob("*") if p.is_file())
    trees = {"this tree": args.tree, "baseline": args.baseline}
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start, {args.runs} runs, "
        f"{files} files in {args.folder}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for options in args.options:
            wall: dict[str, list[float]] = {name: [] for name in trees}
            cpu: dict[str, list[float]] = {name: [] for name in trees}
            for _ in range(args.runs):
                for name, src in trees.items():  # alternating, so load changes hit both alike
                    took, used = run_once(src, args.folder, shlex.split(options), Path(tmp) / "e.npz")
                    wall[name].append(took)
                    cpu[name].append(used)
            print(f"options [{options}]")
            for name in trees:
                med, low, high = statistics.median(wall[name]), min(wall[name]), max(wall[name])
                print(
                    f"  {name:9s}: wall median {med:.2f} s (range {low:.2f}-{high:.2f}), "
                    f"{files / med:.1f} files/s; CPU median {statistics.median(cpu[name]):.2f} s"
                )
            ratio = statistics.median(wall["baseline"]) / statistics.median(wall["this tree"])
            print(f"  baseline / this tree (wall medians): {ratio:.2f}x")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
