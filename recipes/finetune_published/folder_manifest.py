"""A labelled folder (``ROOT/<label>/.../clip.ext``: each clip's label is its parent folder's name) ->
an openclap manifest CSV with captions from templates and a held-out split by a hash of the file name.

    .venv/bin/python recipes/finetune_published/folder_manifest.py ../shared/data/philharmonia/audio \
        runs/finetune_published/folder.csv --template "the sound of a {label}" --val-fraction 0.2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from openclap.data.builders import hash_split
from openclap.data.manifest import ManifestEntry, write_manifest
from openclap.inference import find_audio_files


def entries(root: Path, templates: list[str], val_fraction: float) -> list[ManifestEntry]:
    out = []
    for path in find_audio_files([str(root)]):
        label = Path(path).parent.name
        captions = tuple(t.format(label=label) for t in templates)
        split = hash_split(Path(path).name, val_fraction)
        audio = str(Path(path).resolve())
        out.append(ManifestEntry(audio=audio, captions=captions, labels=(label,), split=split))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="folder of <label>/ subfolders holding audio files")
    parser.add_argument("out", help="output manifest .csv or .jsonl")
    parser.add_argument("--template", action="append", default=[], help="caption template with {label}")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="held-out share (default: 0.2)")
    args = parser.parse_args()
    root = Path(args.root)
    if not root.is_dir():
        print(f"error: {root}: not a folder", file=sys.stderr)
        return 2
    rows = entries(root, args.template or ["the sound of a {label}"], args.val_fraction)
    if not rows:
        print(f"error: no audio files under {root}", file=sys.stderr)
        return 2
    write_manifest(rows, args.out)
    labels = {r.labels[0] for r in rows}
    print(f"{len(rows)} clips, {len(labels)} labels -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
