"""Build the audio-caption manifest of ``../shared/data`` for ``recipes/shared_data/run.yaml``.

Philharmonia notes get captions from instrument, note, dynamic and articulation (validation held out by
note); FSDD digits get captions such as "a person saying the digit seven" (validation: speaker theo).
ESC-50 fold 4 and AudioCaps-demo are held-out benchmarks and are never read.

    .venv/bin/python recipes/shared_data/build_manifest.py            # -> runs/shared_data/manifest.jsonl
    .venv/bin/python recipes/shared_data/build_manifest.py --check    # also decode and drop bad clips
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from openclap.data.builders import build_preset
from openclap.data.manifest import check_entries, drop_bad, write_manifest

ROOT = Path(__file__).resolve().parents[2]
DATASETS = ("philharmonia", "fsdd")  # never esc50-fold4 or audiocaps-demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shared", default=str(ROOT.parent / "shared" / "data"), help="the shared data folder"
    )
    parser.add_argument("--out", default=str(ROOT / "runs" / "shared_data" / "manifest.jsonl"))
    parser.add_argument("--check", action="store_true", help="decode every clip and drop bad ones")
    args = parser.parse_args(argv)
    shared = Path(args.shared)
    missing = [name for name in DATASETS if not (shared / name / "metadata.csv").is_file()]
    if missing:
        print(f"error: {shared} lacks {missing}", file=sys.stderr)
        return 2
    entries = [e for name in DATASETS for e in build_preset(name, shared / name)]
    if args.check:
        report = check_entries(entries, min_seconds=0.05, progress=True)
        print(report.summary())
        entries = drop_bad(entries, report)
    write_manifest(entries, args.out, relative_paths=False)
    counts = Counter((e.source, e.split) for e in entries)
    print(
        f"wrote {len(entries)} clips to {args.out}: "
        + ", ".join(f"{s}/{p} {n}" for (s, p), n in sorted(counts.items()))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
