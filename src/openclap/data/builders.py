"""Turn labelled datasets into audio-caption manifests with caption templates.

A template is a ``str.format`` string over the metadata columns (``"a {instrument} playing {note}"``);
a template whose columns are empty for a row is skipped for that row, so every clip gets the captions
that make sense for it. Column values can be rewritten first (``"Gs4"`` -> ``"G sharp 4"``).

Splits are held out by group (speaker, note, ...): a stable hash of the group key puts every clip of a
group into the same split, so no speaker or note is in both train and validation.
"""

from __future__ import annotations

import csv
import hashlib
import os
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from openclap.data.manifest import ManifestEntry

Row = dict[str, str]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def template_fields(template: str) -> list[str]:
    """The column names a template refers to."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def render_captions(row: Mapping[str, str], templates: Sequence[str]) -> list[str]:
    """Fill each template whose columns are all present and non-empty; drop duplicates, keep order."""
    captions: list[str] = []
    for template in templates:
        names = template_fields(template)
        if any(not str(row.get(name, "")).strip() for name in names):
            continue
        caption = " ".join(template.format_map(row).split())
        if caption and caption not in captions:
            captions.append(caption)
    return captions


def hash_split(key: str, val_fraction: float = 0.1, test_fraction: float = 0.0, salt: str = "") -> str:
    """``train`` / ``val`` / ``test`` from a stable hash of ``key`` (the same on every machine)."""
    if not 0 <= val_fraction + test_fraction <= 1:
        raise ValueError(
            f"val_fraction + test_fraction must lie in [0, 1], got {val_fraction + test_fraction}"
        )
    digest = hashlib.sha256(f"{salt}{key}".encode()).digest()
    unit = int.from_bytes(digest[:8], "big") / 2**64
    if unit < val_fraction:
        return "val"
    if unit < val_fraction + test_fraction:
        return "test"
    return "train"


@dataclass
class TableSpec:
    """How to turn one metadata table into manifest entries.

    ``audio_column`` holds paths relative to ``root``; ``label_columns`` become the entry's labels;
    ``split_column`` copies a split, otherwise ``group_column`` (or the audio path) is hashed into
    train/val/test; ``fixed_splits`` maps group values to a split (e.g. one held-out speaker).
    """

    templates: Sequence[str]
    audio_column: str = "filename"
    label_columns: Sequence[str] = ()
    split_column: str | None = None
    group_column: str | None = None
    fixed_splits: Mapping[str, str] = field(default_factory=dict)
    val_fraction: float = 0.1
    test_fraction: float = 0.0
    source: str | None = None
    license: str | None = None
    rewrite: Callable[[Row], Row] | None = None


def _split_for(row: Row, spec: TableSpec) -> str | None:
    if spec.split_column:
        return row.get(spec.split_column) or None
    key = row.get(spec.group_column, "") if spec.group_column else ""
    key = key or row[spec.audio_column]
    if key in spec.fixed_splits:
        return spec.fixed_splits[key]
    return hash_split(key, spec.val_fraction, spec.test_fraction, salt=spec.source or "")


def entries_from_rows(
    rows: Sequence[Row], root: str | os.PathLike[str], spec: TableSpec
) -> list[ManifestEntry]:
    """Build entries from metadata rows; a row without any caption raises ``ValueError`` naming it."""
    root = Path(root)
    entries = []
    for row in rows:
        if spec.audio_column not in row:
            raise ValueError(f"metadata has no column {spec.audio_column!r}; columns: {sorted(row)}")
        filled = spec.rewrite(dict(row)) if spec.rewrite else dict(row)
        captions = render_captions(filled, spec.templates)
        if not captions:
            raise ValueError(f"{row[spec.audio_column]}: no template could be filled from {row}")
        labels = tuple(filled[c].strip() for c in spec.label_columns if filled.get(c, "").strip())
        entries.append(
            ManifestEntry(
                audio=str(root / row[spec.audio_column]),
                captions=tuple(captions),
                labels=labels,
                split=_split_for(row, spec),
                source=spec.source,
                license=spec.license,
            )
        )
    return entries


def read_table(path: str | os.PathLike[str]) -> list[Row]:
    with open(path, encoding="utf-8", newline="") as fh:
        return [dict(row) for row in csv.DictReader(fh)]


def build_from_table(metadata_csv: str | os.PathLike[str], spec: TableSpec) -> list[ManifestEntry]:
    """Entries from a ``metadata.csv`` whose audio paths are relative to the CSV's folder."""
    path = Path(metadata_csv)
    return entries_from_rows(read_table(path), path.resolve().parent, spec)


# ----- presets for the datasets in ../shared/data -----------------------------------------------------
NOTE_NAMES = {"C": "C", "D": "D", "E": "E", "F": "F", "G": "G", "A": "A", "B": "B"}


def spoken_note(note: str) -> str:
    """``"Gs4"`` -> ``"G sharp 4"``, ``"As1"`` -> ``"A sharp 1"``; other text is returned unchanged."""
    if len(note) >= 2 and note[0] in NOTE_NAMES:
        sharp = note[1] == "s"
        octave = note[2:] if sharp else note[1:]
        if octave.isdigit():
            return f"{note[0]}{' sharp' if sharp else ''} {octave}"
    return note


def _philharmonia_rewrite(row: Row) -> Row:
    out = dict(row)
    out["note"] = spoken_note(row.get("note", ""))
    out["dynamic"] = row.get("dynamic", "").replace("-", " ")
    articulation = row.get("articulation", "").replace("arco-", "bowed ").replace("-", " ")
    out["articulation"] = "" if articulation in ("normal", "bowed normal") else articulation.strip()
    return out


PHILHARMONIA_TEMPLATES = (
    "a {instrument} playing the note {note}, {dynamic}",
    "a {dynamic} {note} on the {instrument}",
    "{instrument}, {articulation}, {dynamic}",
    "the sound of a {instrument}",
    "a single {dynamic} note played on a {instrument}",
    "{instrument} {articulation}",
)

FSDD_TEMPLATES = (
    "a person saying the digit {word}",
    "someone says the number {word}",
    "the spoken word {word}",
    "a voice counting: {word}",
    "the digit {digit} spoken aloud",
)


def _fsdd_rewrite(row: Row) -> Row:
    out = dict(row)
    out["word"] = DIGIT_WORDS[int(row["digit"])]
    return out


def philharmonia_spec(val_fraction: float = 0.1, test_fraction: float = 0.0) -> TableSpec:
    """Philharmonia: captions from instrument, note, dynamic, articulation; split held out by note."""
    return TableSpec(
        templates=PHILHARMONIA_TEMPLATES,
        label_columns=("instrument",),
        group_column="note",
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        source="philharmonia",
        license="CC BY-SA 3.0",
        rewrite=_philharmonia_rewrite,
    )


def fsdd_spec(val_speakers: Sequence[str] = ("theo",), test_speakers: Sequence[str] = ()) -> TableSpec:
    """FSDD: captions about the spoken digit; labels are digit words; split held out by speaker."""
    fixed = {s: "val" for s in val_speakers} | {s: "test" for s in test_speakers}
    return TableSpec(
        templates=FSDD_TEMPLATES,
        label_columns=("word",),
        group_column="speaker",
        fixed_splits=fixed,
        val_fraction=0.0,
        source="fsdd",
        license="CC BY-SA 4.0",
        rewrite=_fsdd_rewrite,
    )


PRESETS: dict[str, Callable[[], TableSpec]] = {"philharmonia": philharmonia_spec, "fsdd": fsdd_spec}


def build_preset(name: str, folder: str | os.PathLike[str]) -> list[ManifestEntry]:
    """Entries for a known dataset folder holding ``metadata.csv`` (see ``PRESETS``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown dataset preset {name!r}; choose one of {sorted(PRESETS)}")
    return build_from_table(Path(folder) / "metadata.csv", PRESETS[name]())
