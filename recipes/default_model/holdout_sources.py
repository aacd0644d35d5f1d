"""Move whole sources of a manifest into their own split, so that no model trains on them.

The corpus val split is a random cut of mostly game and software sound effects named by their files;
it cannot tell whether a model names everyday sounds better. Holding out whole sources of everyday
recordings (for example the GitHub sound packs of animals, weather and household sounds) gives a set
that neither the shipped model nor a candidate trained on the rewritten manifest has heard:

    .venv/bin/python recipes/default_model/holdout_sources.py --manifest /work/openclap-data/manifest.jsonl \\
        --sources "Fris0uman/CDDA-Soundpacks" "AntumMT/mod-sounds" "OreCruncher/DynamicSurroundings" \\
        --split heldout --out /work/openclap-data/manifest_heldout.jsonl

A source matches when its ``source`` field starts with the given text (GitHub sources carry a
``@commit (GitHub)`` suffix). Every clip of a matching source, train or val, gets ``--split``; other rows are
written unchanged, in order. The output is written atomically; the input is never changed.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from openclap.data.manifest import ManifestEntry, ManifestError, read_manifest, write_manifest


def hold_out(
    entries: Sequence[ManifestEntry], sources: Sequence[str], split: str
) -> tuple[list[ManifestEntry], Counter[str]]:
    """``entries`` with every clip of a source starting with one of ``sources`` moved to ``split``.

    Returns the new entries and the number of clips moved per given source. Raises ValueError when a
    given source matches no clip (a typo would otherwise hold out nothing and train on everything).
    """
    moved: Counter[str] = Counter()
    out = []
    for entry in entries:
        hit = next((s for s in sources if (entry.source or "").startswith(s)), None)
        if hit is None:
            out.append(entry)
            continue
        moved[hit] += 1
        out.append(replace(entry, split=split))
    missing = [s for s in sources if not moved[s]]
    if missing:
        raise ValueError(f"no clip has a source starting with {', '.join(map(repr, missing))}")
    return out, moved


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, required=True, help="the corpus manifest (read only)")
    parser.add_argument("--sources", nargs="+", required=True, help="source names (prefixes) to hold out")
    parser.add_argument(
        "--split", default="heldout", help="split name of the held-out clips (default heldout)"
    )
    parser.add_argument("--out", type=Path, required=True, help="the rewritten manifest (.jsonl or .csv)")
    args = parser.parse_args(argv)
    if args.split in ("train", "val"):
        parser.error(f"--split {args.split!r}: choose a split name that training does not read")
    if args.out.resolve() == args.manifest.resolve():
        parser.error("--out must differ from --manifest (the corpus manifest stays as it is)")
    try:
        entries = read_manifest(args.manifest)
        out, moved = hold_out(entries, args.sources, args.split)
    except (ManifestError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        write_manifest(out, args.out)
    except (ManifestError, OSError) as exc:
        print(f"error: --out {args.out}: {exc}", file=sys.stderr)
        return 1
    for source, n in moved.items():
        print(f"{source}: {n} clips -> split {args.split!r}")
    splits = Counter(e.split for e in out)
    print(
        f"{args.out}: {len(out)} clips; " + ", ".join(f"{k} {v}" for k, v in sorted(splits.items(), key=str))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
