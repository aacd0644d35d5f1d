"""Any benchmark in one CSV: ``path,label(s)`` for classification or ``path,caption`` for retrieval.

``openclap eval PROTOCOL --dataset csv --root FILE.csv [-d KEY=VALUE ...]``; ``CSV_HELP`` is the summary
that ``openclap eval --help`` shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from openclap.eval.datasets.base import (
    DatasetLayoutError,
    EvalDataset,
    ItemBuilder,
    PathLike,
    read_csv,
    require,
)

PATH_COLUMNS = ("path", "filename", "file_name", "file", "audio")
LABEL_COLUMNS = ("labels", "label", "category", "class")
CAPTION_COLUMNS = ("caption", "text")
FOLD_COLUMNS = ("fold", "split")
CSV_HELP = (
    "The generic adapter 'csv' reads any CSV with a header row (--root FILE.csv, or a folder holding "
    "metadata.csv); audio paths are relative to the CSV's folder. Columns, found by name: path (path, "
    "filename, file_name, file, audio); labels (labels, label, category, class; several labels per clip "
    "separated by ';', never by ',', so 'Bark, dog' is one label) or caption (caption, text) for "
    "retrieval; fold (fold, split), optional. Every other column is kept as metadata, so "
    "-o split=group -o group_key=COLUMN holds out whole groups. Options (-d): name, file, path_column, "
    "label_column, caption_column, fold_column, splits (keep these folds), classes, multi_label, "
    "label_separator, allow_missing."
)


def split_labels(field: str, separator: str = ";") -> list[str]:
    """'a;b' -> [a, b], blanks dropped; a comma is part of a label ('Bark, dog' is one label)."""
    return [part.strip() for part in field.split(separator) if part.strip()]


def _pick(header: Sequence[str], wanted: str | None, options: Sequence[str], csv_path: Path) -> str | None:
    if wanted is not None:
        if wanted not in header:
            raise DatasetLayoutError(f"csv: {csv_path} has no column {wanted!r}; it has {list(header)}")
        return wanted
    return next((c for c in options if c in header), None)


def _class_list(rows: list[list[str]], classes: Sequence[str] | None, csv_path: Path) -> tuple[str, ...]:
    seen = sorted({lab for labs in rows for lab in labs})
    if classes is None:
        return tuple(seen)
    unknown = [lab for lab in seen if lab not in classes]
    if unknown:
        raise DatasetLayoutError(
            f"csv: {csv_path} uses labels {unknown} that are not in classes={list(classes)}"
        )
    return tuple(classes)


def load_csv_dataset(
    root: PathLike,
    file: str = "metadata.csv",
    name: str = "csv",
    path_column: str | None = None,
    label_column: str | None = None,
    caption_column: str | None = None,
    fold_column: str | None = None,
    classes: Sequence[str] | None = None,
    multi_label: bool | None = None,
    allow_missing: bool = False,
    splits: Sequence[str] | str | None = None,
    label_separator: str = ";",
) -> EvalDataset:
    """A dataset from one CSV with a header row.

    ``root`` is the CSV file itself or the folder holding ``file``. Audio paths are relative to the
    CSV's folder (or absolute). Columns, found by name unless given:

    - path: one of path, filename, file_name, file, audio
    - labels: one of labels, label, category, class; several labels separated by ``label_separator``
      (';'), never by a comma (multi-label when any row has several, or ``multi_label=True``)
    - caption (retrieval): one of caption, text; a clip may have several rows, one per caption
    - fold (optional): one of fold, split; ``splits`` keeps only the rows of those folds
    - every other column: kept as the item's metadata (e.g. a speaker column for a grouped split)

    Class order is ``classes`` when given, else the sorted label names. ``name`` names the dataset in
    results and messages.
    """
    given = Path(root).expanduser()
    csv_path = given if given.is_file() else require(given / file, name, "the CSV file")
    base = csv_path.parent
    rows = read_csv(csv_path, name)
    header = list(rows[0]) if rows else []
    if not label_separator or "," in label_separator:
        raise ValueError(
            f"{name}: label_separator must be a non-empty string without ',', got {label_separator!r}"
        )
    path_col = _pick(header, path_column, PATH_COLUMNS, csv_path)
    if path_col is None:
        raise DatasetLayoutError(
            f"{name}: {csv_path} needs a path column (one of {list(PATH_COLUMNS)}); has {header}"
        )
    fold_col = _pick(header, fold_column, FOLD_COLUMNS, csv_path)
    label_col = _pick(header, label_column, LABEL_COLUMNS, csv_path) if caption_column is None else None
    caption_col = None if label_col else _pick(header, caption_column, CAPTION_COLUMNS, csv_path)
    if label_col is None and caption_col is None:
        raise DatasetLayoutError(
            f"{name}: {csv_path} needs a label column ({list(LABEL_COLUMNS)}) or a caption "
            f"column ({list(CAPTION_COLUMNS)}); it has {header}"
        )

    rows = _keep_splits(rows, fold_col, splits, name, csv_path)
    used = {path_col, fold_col, label_col, caption_col}

    def fold_of(row: dict[str, str]) -> str | None:
        return (row[fold_col] or None) if fold_col else None

    def meta_of(row: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in row.items() if k not in used}

    if caption_col is not None:
        builder = ItemBuilder(name, "retrieval")
        grouped: dict[Path, tuple[list[str], dict[str, str]]] = {}
        for r in rows:
            caps, _ = grouped.setdefault(base / r[path_col], ([], r))
            caps.append(r[caption_col])
        for path, (caps, first) in grouped.items():
            builder.add(path, captions=[c for c in caps if c], fold=fold_of(first), **meta_of(first))
        return builder.build(base, allow_missing)

    assert label_col is not None
    labels = [split_labels(r[label_col], label_separator) for r in rows]
    empty = [r[path_col] for r, labs in zip(rows, labels, strict=True) if not labs]
    if empty:
        raise DatasetLayoutError(f"{name}: {len(empty)} row(s) of {csv_path} have no label, e.g. {empty[0]}")
    class_names = _class_list(labels, classes, csv_path)
    multi = multi_label if multi_label is not None else any(len(labs) > 1 for labs in labels)
    builder = ItemBuilder(name, "multi-label" if multi else "single-label", class_names)
    for r, labs in zip(rows, labels, strict=True):
        if not multi and len(labs) > 1:
            raise DatasetLayoutError(f"{name}: {r[path_col]} has several labels {labs} but multi_label=False")
        indices = sorted({class_names.index(lab) for lab in labs})
        builder.add(base / r[path_col], indices, fold=fold_of(r), **meta_of(r))
    return builder.build(base, allow_missing)


def _keep_splits(
    rows: list[dict[str, str]],
    fold_col: str | None,
    splits: Sequence[str] | str | None,
    name: str,
    csv_path: Path,
) -> list[dict[str, str]]:
    """The rows whose fold is in ``splits`` (all rows when None)."""
    if splits is None:
        return rows
    wanted = [splits] if isinstance(splits, str | int) else [str(s) for s in splits]
    wanted = [str(s) for s in wanted]
    if fold_col is None:
        raise DatasetLayoutError(f"{name}: splits={wanted} needs a fold column (fold or split) in {csv_path}")
    present = sorted({r[fold_col] for r in rows})
    unknown = [s for s in wanted if s not in present]
    if unknown:
        raise DatasetLayoutError(f"{name}: splits {unknown} are not in {csv_path}; its folds are {present}")
    return [r for r in rows if r[fold_col] in wanted]
