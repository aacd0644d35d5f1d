"""Any benchmark in one CSV: ``path,label(s)`` for classification or ``path,caption`` for retrieval."""

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


def split_labels(field: str) -> list[str]:
    """'a;b' -> [a, b]; without ';', 'a,b' -> [a, b] (a quoted CSV field); blanks dropped."""
    sep = ";" if ";" in field else ","
    return [part.strip() for part in field.split(sep) if part.strip()]


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
) -> EvalDataset:
    """A dataset from one CSV with a header row.

    ``root`` is the CSV file itself or the folder holding ``file``. Audio paths are relative to the
    CSV's folder (or absolute). Columns, found by name unless given:

    - path: one of path, filename, file_name, file, audio
    - labels: one of labels, label, category, class; several labels separated by ';' or, inside a
      quoted field, by ',' (multi-label when any row has several, or ``multi_label=True``)
    - caption (retrieval): one of caption, text; a clip may have several rows, one per caption
    - fold (optional): one of fold, split

    Class order is ``classes`` when given, else the sorted label names.
    """
    given = Path(root).expanduser()
    csv_path = given if given.is_file() else require(given / file, name, "the CSV file")
    base = csv_path.parent
    rows = read_csv(csv_path, name)
    header = list(rows[0]) if rows else []
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

    def fold_of(row: dict[str, str]) -> str | None:
        return (row[fold_col] or None) if fold_col else None

    if caption_col is not None:
        builder = ItemBuilder(name, "retrieval")
        grouped: dict[Path, tuple[list[str], str | None]] = {}
        for r in rows:
            caps, _ = grouped.setdefault(base / r[path_col], ([], fold_of(r)))
            caps.append(r[caption_col])
        for path, (caps, fold) in grouped.items():
            builder.add(path, captions=[c for c in caps if c], fold=fold)
        return builder.build(base, allow_missing)

    assert label_col is not None
    labels = [split_labels(r[label_col]) for r in rows]
    empty = [r[path_col] for r, labs in zip(rows, labels, strict=True) if not labs]
    if empty:
        raise DatasetLayoutError(f"{name}: {len(empty)} row(s) of {csv_path} have no label, e.g. {empty[0]}")
    class_names = _class_list(labels, classes, csv_path)
    multi = multi_label if multi_label is not None else any(len(labs) > 1 for labs in labels)
    builder = ItemBuilder(name, "multi-label" if multi else "single-label", class_names)
    for r, labs in zip(rows, labels, strict=True):
        if not multi and len(labs) > 1:
            raise DatasetLayoutError(f"{name}: {r[path_col]} has several labels {labs} but multi_label=False")
        builder.add(base / r[path_col], sorted({class_names.index(lab) for lab in labs}), fold=fold_of(r))
    return builder.build(base, allow_missing)
