"""Acoustic scene classification: TUT Acoustic Scenes 2017 (DCASE 2017 task 1)."""

from __future__ import annotations

from pathlib import Path

from openclap.eval.datasets.base import (
    DatasetLayoutError,
    EvalDataset,
    ItemBuilder,
    PathLike,
    read_csv,
    require_root,
)

TUT2017_CLASSES: tuple[str, ...] = (
    "beach", "bus", "cafe/restaurant", "car", "city_center", "forest_path", "grocery_store", "home",
    "library", "metro_station", "office", "park", "residential_area", "train", "tram",
)  # fmt: skip
_DEV, _EVAL = "TUT-acoustic-scenes-2017-development", "TUT-acoustic-scenes-2017-evaluation"


def _dev_folds(folder: Path) -> dict[str, str]:
    """Relative audio path -> cross-validation fold, from evaluation_setup/fold<k>_evaluate.txt."""
    folds: dict[str, str] = {}
    for k in range(1, 5):
        path = folder / "evaluation_setup" / f"fold{k}_evaluate.txt"
        if path.is_file():
            for row in read_csv(path, "tut2017", delimiter="\t", fieldnames=["filename", "scene"]):
                folds[row["filename"]] = str(k)
    return folds


def _add_part(builder: ItemBuilder, folder: Path, evaluation: bool) -> None:
    rows = read_csv(
        folder / "meta.txt", "tut2017", delimiter="\t", fieldnames=["filename", "scene", "location"]
    )
    folds = {} if evaluation else _dev_folds(folder)
    for row in rows:
        if row["scene"] not in TUT2017_CLASSES:
            raise DatasetLayoutError(f"tut2017: {folder / 'meta.txt'} names unknown scene {row['scene']!r}")
        fold = "evaluation" if evaluation else folds.get(row["filename"], "development")
        builder.add(
            folder / row["filename"],
            [TUT2017_CLASSES.index(row["scene"])],
            fold=fold,
            location=row.get("location", ""),
        )


def load_tut2017(root: PathLike) -> EvalDataset:
    """TUT Acoustic Scenes 2017: 15 scenes, 10 s segments.

    Layout of the Zenodo release (``root`` is one part, or a folder holding one or both parts)::

        TUT-acoustic-scenes-2017-development/meta.txt        audio/<file>.wav<TAB>scene<TAB>location
        TUT-acoustic-scenes-2017-development/audio/<file>.wav
        TUT-acoustic-scenes-2017-development/evaluation_setup/fold<k>_evaluate.txt   (k = 1..4)
        TUT-acoustic-scenes-2017-evaluation/meta.txt          same columns, with the released labels
        TUT-acoustic-scenes-2017-evaluation/audio/<file>.wav

    Development items get their cross-validation fold "1".."4" (from ``fold<k>_evaluate.txt``, else
    "development"); evaluation items get fold "evaluation". A part is told apart by its folder name.
    """
    name = "tut2017"
    base = require_root(root, name)
    parts = [base / _DEV, base / _EVAL] if not (base / "meta.txt").is_file() else [base]
    builder = ItemBuilder(name, "single-label", TUT2017_CLASSES)
    found = False
    for folder in parts:
        if (folder / "meta.txt").is_file():
            found = True
            _add_part(builder, folder, evaluation="evaluation" in folder.name.lower())
    if not found:
        raise DatasetLayoutError(f"{name}: no meta.txt in {base}, {base / _DEV} or {base / _EVAL}")
    return builder.build(base)
