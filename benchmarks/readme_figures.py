"""The README's quick-start figures for the shipped default model, recomputed from real ESC-50 fold-4 clips.

Prints (1) what ``openclap classify 4-184575-A-0.flac --labels "dog,rain,siren,church bells,hand saw"``
shows, (2) how many of the 40 fold-4 clips of those five classes that five-way choice gets right and
(3) the 50-class zero-shot accuracy over all 400 clips with the protocol prompt ("This is a sound of
{}."), all through the public API (``create_model``, ``embed_audio_files``, ``ZeroShotClassifier``).

The expected values live in one file, ``benchmarks/readme_figures.json``, which
``tests/test_default_model.py`` reads (the test recomputes (1) and (2) itself, through the API and the
CLI, and never asks this script). Run with no flag to compare a fresh measurement with that file (exit
1 on a difference); after shipping a new default model, run with ``--write`` to record its figures, then
put the printed sentence into the README.

Usage: .venv/bin/python benchmarks/readme_figures.py [--write] [--root ../shared/data/esc50-fold4]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openclap import ZeroShotClassifier, create_model, embed_audio_files
from openclap.registry import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ROOT / "benchmarks" / "readme_figures.json"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "esc50-fold4"
CLIP = "4-184575-A-0.flac"
LABELS = ["dog", "rain", "siren", "church bells", "hand saw"]
PROTOCOL_TEMPLATE = "This is a sound of {}."
SCORE_TOLERANCE = 2e-3  # printed scores have 3 decimals; platform float noise is ~1e-5


def _metadata(root: Path) -> list[tuple[str, str]]:
    """(file name, class name with spaces) for every clip of the fold, in file-name order."""
    with open(root / "metadata.csv", newline="") as f:
        rows = [(Path(r["filename"]).name, r["category"].replace("_", " ")) for r in csv.DictReader(f)]
    return sorted(rows)


def measure(root: Path) -> dict[str, Any]:
    """The three figures, measured now on the clips under ``root``."""
    model = create_model(DEFAULT_MODEL)
    clips = _metadata(root)
    paths = [root / "audio" / name for name, _ in clips]
    emb = embed_audio_files(model, paths).embeddings  # [400, D]
    five = ZeroShotClassifier(model, LABELS)  # the model's own prompts, as `openclap classify` uses
    index = [name for name, _ in clips].index(CLIP)
    top3 = five.predict(emb[index : index + 1], top_k=3)[0]
    subset = [i for i, (_, cls) in enumerate(clips) if cls in LABELS]
    top1 = [p[0].label for p in five.predict(emb[subset])]
    truth = [clips[i][1] for i in subset]
    classes = sorted({cls for _, cls in clips})
    full = ZeroShotClassifier(model, classes, templates=[PROTOCOL_TEMPLATE]).predict_proba(emb)
    hits = np.array(classes)[full.argmax(axis=1)] == np.array([cls for _, cls in clips])
    return {
        "model": DEFAULT_MODEL,
        "clip": CLIP,
        "labels": LABELS,
        "clip_top3": [[p.label, round(p.score, 4)] for p in top3],
        "five_way_predictions": {clips[i][0]: label for i, label in zip(subset, top1, strict=True)},
        "five_way_correct": int(sum(p == t for p, t in zip(top1, truth, strict=True))),
        "five_way_total": len(subset),
        "esc50_fold4_protocol_accuracy": round(float(hits.mean()), 4),
        "score_tolerance": SCORE_TOLERANCE,
    }


def readme_sentence(fig: dict[str, Any]) -> str:
    shown = ", ".join(f"{label} ({score:.3f})" for label, score in fig["clip_top3"])
    return (
        f"The third command prints `{shown}`. This five-way choice is right on {fig['five_way_correct']} of "
        f"the {fig['five_way_total']} ESC-50 fold-4 clips of those five classes; over all 50 classes the "
        f"default model is right on {100 * fig['esc50_fold4_protocol_accuracy']:g} % of the clips."
    )


def differences(now: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """What differs beyond the score tolerance (labels and counts must be equal)."""
    out = []
    for key in ("clip", "labels", "five_way_predictions", "five_way_correct", "five_way_total"):
        if now[key] != expected[key]:
            out.append(f"{key}: now {now[key]!r}, expected {expected[key]!r}")
    if [lab for lab, _ in now["clip_top3"]] != [lab for lab, _ in expected["clip_top3"]] or any(
        abs(a[1] - b[1]) > SCORE_TOLERANCE
        for a, b in zip(now["clip_top3"], expected["clip_top3"], strict=True)
    ):
        out.append(f"clip_top3: now {now['clip_top3']}, expected {expected['clip_top3']}")
    if abs(now["esc50_fold4_protocol_accuracy"] - expected["esc50_fold4_protocol_accuracy"]) > 1e-9:
        acc = "esc50_fold4_protocol_accuracy"
        out.append(f"{acc}: now {now[acc]}, expected {expected[acc]}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_DATA, help="ESC-50 fold-4 folder")
    parser.add_argument("--write", action="store_true", help=f"record the figures in {EXPECTED.name}")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    now = measure(args.root)
    print(readme_sentence(now))
    if args.write:
        EXPECTED.write_text(json.dumps(now, indent=1) + "\n")
        print(f"wrote {EXPECTED}")
        return 0
    diff = differences(now, json.loads(EXPECTED.read_text()))
    for line in diff:
        print(f"differs from {EXPECTED.name}: {line}", file=sys.stderr)
    print("matches" if not diff else "DIFFERS", EXPECTED.name)
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
