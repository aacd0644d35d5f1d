"""Typed evaluation datasets and the helpers every adapter shares (layout checks, CSV reading).

An adapter reads a benchmark's own folder layout from a local root and returns an ``EvalDataset``:
a name, a task, class names and items (audio path, class indices or captions, fold or split).
Adapters never download anything and never open audio; they check that every listed file exists.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Task = Literal["single-label", "multi-label", "retrieval"]
TASKS: tuple[str, ...] = ("single-label", "multi-label", "retrieval")
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".au", ".aiff", ".aif", ".m4a")
PathLike = str | os.PathLike[str]


class DatasetLayoutError(FileNotFoundError):
    """A dataset folder does not have the layout its adapter expects (names the missing file or folder)."""


@dataclass(frozen=True)
class EvalItem:
    """One clip: its audio path, class indices (classification) or captions (retrieval), fold and
    free-form metadata (speaker, note, ...) usable as a grouping key for cross-validation."""

    path: Path
    labels: tuple[int, ...] = ()
    captions: tuple[str, ...] = ()
    fold: str | None = None
    meta: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EvalDataset:
    """A benchmark as loaded from disk. ``missing`` lists files named by the metadata but absent."""

    name: str
    task: Task
    items: tuple[EvalItem, ...]
    class_names: tuple[str, ...] = ()
    root: Path | None = None
    missing: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task {self.task!r} is not valid; choose one of {list(TASKS)}")
        n = len(self.class_names)
        for item in self.items:
            if self.task == "retrieval":
                if not item.captions:
                    raise ValueError(f"{self.name}: retrieval item {item.path} has no caption")
                continue
            if self.task == "single-label" and len(item.labels) != 1:
                raise ValueError(f"{self.name}: single-label item {item.path} has labels {item.labels}")
            if any(not 0 <= lab < n for lab in item.labels):
                raise ValueError(f"{self.name}: item {item.path} has labels {item.labels} outside [0, {n})")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def paths(self) -> list[Path]:
        return [item.path for item in self.items]

    @property
    def folds(self) -> list[str | None]:
        return [item.fold for item in self.items]

    def targets(self) -> NDArray[np.int64]:
        """Class index per item [N] (single-label datasets only)."""
        if self.task != "single-label":
            raise ValueError(f"{self.name} is {self.task}; targets() needs a single-label dataset")
        return np.array([item.labels[0] for item in self.items], dtype=np.int64)

    def label_matrix(self) -> NDArray[np.bool_]:
        """Multi-hot labels [N, C] (any classification dataset)."""
        out = np.zeros((len(self.items), len(self.class_names)), dtype=bool)
        for row, item in enumerate(self.items):
            out[row, list(item.labels)] = True
        return out

    def captions_flat(self) -> tuple[list[str], NDArray[np.int64]]:
        """All captions and, for each, the index of its clip (the retrieval ground truth)."""
        texts = [c for item in self.items for c in item.captions]
        owner = np.repeat(np.arange(len(self.items)), [len(item.captions) for item in self.items])
        return texts, owner.astype(np.int64)

    def meta_values(self, key: str) -> list[str]:
        """One metadata field per item; raises naming the available keys when an item lacks it."""
        values = []
        for item in self.items:
            if key not in item.meta:
                raise KeyError(
                    f"{self.name}: item {item.path} has no metadata {key!r} (it has {sorted(item.meta)})"
                )
            values.append(item.meta[key])
        return values

    def select(self, indices: Iterable[int]) -> EvalDataset:
        """The items at ``indices`` (same classes)."""
        return replace(self, items=tuple(self.items[i] for i in indices))

    def filter_folds(self, folds: Iterable[str | int]) -> EvalDataset:
        """Only the items whose fold is one of ``folds``; raises if none match."""
        wanted = {str(f) for f in folds}
        kept = [i for i, item in enumerate(self.items) if item.fold in wanted]
        if not kept:
            have = sorted({str(f) for f in self.folds})
            raise ValueError(f"{self.name}: no item in folds {sorted(wanted)}; folds present: {have}")
        return self.select(kept)

    def drop_rare_classes(self, min_count: int) -> EvalDataset:
        """Drop classes with fewer than ``min_count`` items (and items left without a label); re-index."""
        if self.task == "retrieval" or min_count <= 1:
            return self
        counts = self.label_matrix().sum(axis=0)
        keep = [c for c in range(len(self.class_names)) if counts[c] >= min_count]
        remap = {old: new for new, old in enumerate(keep)}
        items = []
        for item in self.items:
            labels = tuple(remap[lab] for lab in item.labels if lab in remap)
            if labels:
                items.append(replace(item, labels=labels))
        return replace(self, items=tuple(items), class_names=tuple(self.class_names[c] for c in keep))


def require(path: Path, dataset: str, what: str) -> Path:
    """``path`` if it exists, else a ``DatasetLayoutError`` naming it and what it should be."""
    if not path.exists():
        raise DatasetLayoutError(f"{dataset}: expected {what} at {path}, but it does not exist")
    return path


def require_root(root: PathLike, dataset: str) -> Path:
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetLayoutError(f"{dataset}: dataset root {path} is not a folder")
    return path


def first_existing(candidates: Sequence[Path], dataset: str, what: str) -> Path:
    """The first candidate that exists, else an error listing every place looked at."""
    for path in candidates:
        if path.exists():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise DatasetLayoutError(f"{dataset}: expected {what}; looked for {tried}")


def read_csv(
    path: Path,
    dataset: str,
    columns: Sequence[str] = (),
    delimiter: str = ",",
    fieldnames: Sequence[str] | None = None,
) -> list[dict[str, str]]:
    """Rows of a CSV as dicts (header from the file unless ``fieldnames``); checks required columns."""
    require(path, dataset, "a metadata file")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter, fieldnames=fieldnames)
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
        header = [h.strip() for h in reader.fieldnames or []]
    absent = [c for c in columns if c not in header]
    if absent:
        raise DatasetLayoutError(f"{dataset}: {path} lacks column(s) {absent}; it has {header}")
    return rows


def audio_files(folder: Path) -> list[Path]:
    """Audio files under ``folder`` (recursive, sorted)."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())


def class_names_from_ids(pairs: Iterable[tuple[int, str]], dataset: str) -> tuple[str, ...]:
    """Class names ordered by their official integer id; the ids must run 0..C-1 without gaps."""
    names: dict[int, str] = {}
    for idx, name in pairs:
        if names.setdefault(idx, name) != name:
            raise ValueError(f"{dataset}: class id {idx} is named both {names[idx]!r} and {name!r}")
    if sorted(names) != list(range(len(names))):
        raise ValueError(f"{dataset}: class ids are not 0..{len(names) - 1}: {sorted(names)}")
    return tuple(names[i] for i in range(len(names)))


@dataclass
class ItemBuilder:
    """Collects items, then checks that their files exist (missing ones fail or are listed)."""

    name: str
    task: Task
    class_names: tuple[str, ...] = ()
    items: list[EvalItem] = field(default_factory=list)

    def add(
        self,
        path: Path,
        labels: Sequence[int] = (),
        captions: Sequence[str] = (),
        fold: str | None = None,
        **meta: str,
    ) -> None:
        self.items.append(EvalItem(path, tuple(labels), tuple(captions), fold, dict(meta)))

    def build(self, root: Path, allow_missing: bool = False) -> EvalDataset:
        present, missing = [], []
        for item in self.items:
            (present if item.path.is_file() else missing).append(item)
        if not present:
            where = missing[0].path.parent if missing else root
            raise DatasetLayoutError(f"{self.name}: no audio file found (expected e.g. files under {where})")
        if missing and not allow_missing:
            shown = ", ".join(str(item.path) for item in missing[:3])
            raise DatasetLayoutError(
                f"{self.name}: {len(missing)} audio file(s) named in the metadata are "
                f"missing, e.g. {shown}; pass allow_missing=True to evaluate without them"
            )
        return EvalDataset(
            self.name,
            self.task,
            tuple(present),
            self.class_names,
            root,
            tuple(str(item.path) for item in missing),
        )
