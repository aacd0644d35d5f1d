"""Instrument recognition: Philharmonia orchestra samples and NSynth instrument families."""

from __future__ import annotations

import json
import re
from pathlib import Path

from openclap.eval.datasets.base import (
    DatasetLayoutError,
    EvalDataset,
    ItemBuilder,
    PathLike,
    audio_files,
    read_csv,
    require,
    require_root,
)

_NOTE = re.compile(r"^[A-G]s?\d$")


def _philharmonia_from_csv(base: Path, csv_path: Path) -> ItemBuilder:
    rows = read_csv(csv_path, "philharmonia", ["filename", "instrument"])
    classes = tuple(sorted({r["instrument"] for r in rows}))
    builder = ItemBuilder("philharmonia", "single-label", classes)
    for r in rows:
        builder.add(
            base / r["filename"],
            [classes.index(r["instrument"])],
            note=r.get("note", ""),
            dynamic=r.get("dynamic", ""),
            articulation=r.get("articulation", ""),
        )
    return builder


def _philharmonia_from_folders(base: Path) -> ItemBuilder:
    files = audio_files(base)
    if not files:
        raise DatasetLayoutError(f"philharmonia: no metadata.csv and no audio files under {base}")
    instrument = {p: p.parent.name.replace("_", " ") for p in files}
    classes = tuple(sorted(set(instrument.values())))
    builder = ItemBuilder("philharmonia", "single-label", classes)
    for path in files:
        tokens = path.stem.split("_")
        note = tokens[1] if len(tokens) > 1 and _NOTE.match(tokens[1]) else ""
        builder.add(path, [classes.index(instrument[path])], note=note)
    return builder


def load_philharmonia(root: PathLike) -> EvalDataset:
    """Philharmonia Orchestra sound samples: one note per file, instrument classes, no official folds.

    Shared-data layout (``../shared/data/philharmonia``)::

        root/metadata.csv   filename,instrument,note,dynamic,articulation   (filename relative to root)

    Without ``metadata.csv``, the release's folder layout is read instead: the instrument is the
    parent folder name and the note is the second '_' token of the file name, e.g.
    ``root/flute/flute_A5_1_forte_normal.mp3`` or ``root/percussion/cowbell/cowbell__1_forte_struck.mp3``.
    Metadata ``note`` ("" for unpitched percussion), ``dynamic`` and ``articulation`` are kept.
    """
    base = require_root(root, "philharmonia")
    csv_path = base / "metadata.csv"
    builder = (
        _philharmonia_from_csv(base, csv_path) if csv_path.is_file() else _philharmonia_from_folders(base)
    )
    return builder.build(base)


NSYNTH_FAMILIES: tuple[str, ...] = (
    "bass", "brass", "flute", "guitar", "keyboard", "mallet",
    "organ", "reed", "string", "synth_lead", "vocal",
)  # fmt: skip
NSYNTH_SPLITS: tuple[str, ...] = ("train", "valid", "test")


def load_nsynth(root: PathLike) -> EvalDataset:
    """NSynth (Engel et al. 2017): 4 s notes, 11 instrument families; splits "train", "valid", "test".

    Layout of the release (``root`` holds one or more split folders, or is one)::

        root/nsynth-<split>/examples.json   {note_str: {"instrument_family": int, "pitch": int,
                                                        "instrument_source_str": str, ...}}
        root/nsynth-<split>/audio/<note_str>.wav

    Metadata ``pitch``, ``source`` and ``instrument`` are kept per item.
    """
    name = "nsynth"
    base = require_root(root, name)
    folders = [base] if (base / "examples.json").is_file() else [base / f"nsynth-{s}" for s in NSYNTH_SPLITS]
    folders = [f for f in folders if (f / "examples.json").is_file()]
    if not folders:
        raise DatasetLayoutError(
            f"{name}: no examples.json in {base} or in {base}/nsynth-<train|valid|test>/"
        )
    builder = ItemBuilder(name, "single-label", NSYNTH_FAMILIES)
    for folder in folders:
        split = folder.name.removeprefix("nsynth-")
        audio_dir = require(folder / "audio", name, "the audio folder")
        examples = json.loads((folder / "examples.json").read_text())
        for note_str, ex in sorted(examples.items()):
            family = int(ex["instrument_family"])
            if not 0 <= family < len(NSYNTH_FAMILIES):
                raise DatasetLayoutError(f"{name}: {note_str} has instrument_family {family}")
            builder.add(
                audio_dir / f"{note_str}.wav",
                [family],
                fold=split,
                pitch=str(ex.get("pitch", "")),
                source=str(ex.get("instrument_source_str", "")),
                instrument=str(ex.get("instrument_str", "")),
            )
    return builder.build(base)
