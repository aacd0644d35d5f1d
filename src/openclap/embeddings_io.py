"""The embedding file format, in one place: ``.npz`` or ``.parquet``, written atomically.

Schema (both containers hold the same fields):

- ``paths``: the audio file of each entry, str [M]
- ``embeddings``: float32 [rows, D]; one row per path, or, with ``offsets``, path m owns rows
  ``offsets[m]:offsets[m + 1]`` (e.g. the per-block teacher embeddings of long clips)
- ``model``: the name of the model that made them (``openclap embed`` records the config name)
- ``offsets`` (optional): int64 [M + 1], from 0 to ``rows``
- more arrays (``.npz`` only), e.g. ``block_seconds``; they come back in ``EmbeddingFile.extra``

In ``.npz`` each field is an array (``model`` a 0-d str array; loads with ``allow_pickle=False``). In
``.parquet`` the rows are (``path``: string, ``embedding``: fixed-size list of float32) and the model
name is the schema metadata key ``openclap.model``; ``offsets`` and extras are not stored there.
``openclap embed`` writes it, ``openclap.train.distill`` and the default-model recipe's teacher read
and write it.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openclap.atomic import atomic_write

SUFFIXES = (".npz", ".parquet")
PARQUET_MODEL_KEY = b"openclap.model"
_FIELDS = ("paths", "embeddings", "model", "offsets")


class EmbeddingFileError(ValueError):
    """An embedding file that cannot be read or written; the message names the file and the problem."""


@dataclass
class EmbeddingFile:
    """The contents of an embedding file (see the module docstring for the schema)."""

    paths: list[str]
    embeddings: NDArray[np.float32]
    model: str | None = None
    offsets: NDArray[np.int64] | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def rows_of(self, index: int) -> NDArray[np.float32]:
        """The embedding rows of path ``index``: [1, D], or [k, D] with ``offsets``."""
        if self.offsets is None:
            return self.embeddings[index : index + 1]
        return self.embeddings[self.offsets[index] : self.offsets[index + 1]]


def check_suffix(path: str | os.PathLike[str], option: str = "path") -> Path:
    """``path`` as a Path, or ``EmbeddingFileError`` unless it ends in .npz or .parquet."""
    out = Path(path)
    if out.suffix not in SUFFIXES:
        raise EmbeddingFileError(f"{option} must end in .npz or .parquet, got {out.name!r}")
    return out


def _validate(source: Path, data: EmbeddingFile) -> EmbeddingFile:
    emb, offsets = data.embeddings, data.offsets
    if emb.ndim != 2:
        raise EmbeddingFileError(f"{source}: 'embeddings' must be [rows, D], got shape {emb.shape}")
    if offsets is None:
        if emb.shape[0] != len(data.paths):
            raise EmbeddingFileError(
                f"{source}: {len(data.paths)} paths but {emb.shape[0]} embedding rows (and no 'offsets')"
            )
        return data
    if (
        offsets.ndim != 1
        or len(offsets) != len(data.paths) + 1
        or offsets[0] != 0
        or offsets[-1] != emb.shape[0]
        or np.any(np.diff(offsets) < 0)
    ):
        raise EmbeddingFileError(
            f"{source}: 'offsets' must be [paths + 1], non-decreasing from 0 to the number of rows"
        )
    return data


def write_embeddings(
    path: str | os.PathLike[str],
    paths: Sequence[str],
    embeddings: ArrayLike,
    model: str | None = None,
    offsets: ArrayLike | None = None,
    extra: Mapping[str, ArrayLike] | None = None,
) -> Path:
    """Write an embedding file atomically (a reader never sees half a file); returns its path."""
    out = check_suffix(path)
    data = EmbeddingFile(
        [str(p) for p in paths],
        np.asarray(embeddings, dtype=np.float32),
        model,
        None if offsets is None else np.asarray(offsets, dtype=np.int64),
        {k: np.asarray(v) for k, v in (extra or {}).items()},
    )
    clash = sorted(set(data.extra) & set(_FIELDS))
    if clash:
        raise EmbeddingFileError(f"{out}: extra arrays may not be named {clash}")
    _validate(out, data)
    if out.suffix == ".parquet":
        if data.offsets is not None or data.extra:
            raise EmbeddingFileError(f"{out}: offsets and extra arrays need .npz, not .parquet")
        atomic_write(out, lambda tmp: _write_parquet(tmp, data))
    else:
        atomic_write(out, lambda tmp: _write_npz(tmp, data))
    return out


def _write_npz(tmp: Path, data: EmbeddingFile) -> None:
    arrays: dict[str, Any] = {"paths": np.array(data.paths, dtype=np.str_), "embeddings": data.embeddings}
    if data.model is not None:
        arrays["model"] = np.array(data.model, dtype=np.str_)
    if data.offsets is not None:
        arrays["offsets"] = data.offsets
    with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a path
        np.savez(fh, **arrays, **data.extra)


def require_pyarrow(what: str = "reading or writing .parquet") -> Any:
    """The pyarrow module, or ``ImportError`` with the command that installs it."""
    try:
        import pyarrow as pa
        import pyarrow.parquet  # loads pa.parquet
    except ImportError:
        raise ImportError(f"{what} needs pyarrow: pip install 'openclap[parquet]'") from None
    return pa


def _write_parquet(tmp: Path, data: EmbeddingFile) -> None:
    pa = require_pyarrow()
    flat = pa.array(data.embeddings.reshape(-1))
    column = pa.FixedSizeListArray.from_arrays(flat, data.embeddings.shape[1])
    table = pa.table({"path": pa.array(data.paths, pa.string()), "embedding": column})
    if data.model is not None:
        table = table.replace_schema_metadata({PARQUET_MODEL_KEY: data.model.encode()})
    pa.parquet.write_table(table, str(tmp))


def read_embeddings(path: str | os.PathLike[str]) -> EmbeddingFile:
    """Read and check an embedding file (``EmbeddingFileError`` naming the file for a bad one)."""
    source = check_suffix(path)
    if not source.is_file():
        raise EmbeddingFileError(f"{source}: embedding file not found")
    try:
        data = _read_parquet(source) if source.suffix == ".parquet" else _read_npz(source)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        if isinstance(err, EmbeddingFileError):
            raise
        raise EmbeddingFileError(f"{source}: not a readable embedding file ({err})") from None
    return _validate(source, data)


def _read_npz(source: Path) -> EmbeddingFile:
    with np.load(source, allow_pickle=False) as npz:
        missing = {"paths", "embeddings"} - set(npz.files)
        if missing:
            raise EmbeddingFileError(f"{source}: lacks {sorted(missing)} (has {sorted(npz.files)})")
        return EmbeddingFile(
            [str(p) for p in npz["paths"].tolist()],
            npz["embeddings"].astype(np.float32, copy=False),
            str(npz["model"]) if "model" in npz.files else None,
            npz["offsets"].astype(np.int64) if "offsets" in npz.files else None,
            {k: npz[k] for k in npz.files if k not in _FIELDS},
        )


def _read_parquet(source: Path) -> EmbeddingFile:
    pa = require_pyarrow()
    table = pa.parquet.read_table(str(source))
    missing = {"path", "embedding"} - set(table.column_names)
    if missing:
        raise EmbeddingFileError(f"{source}: lacks columns {sorted(missing)} (has {table.column_names})")
    column = table.column("embedding").combine_chunks()
    dim = column.type.list_size if hasattr(column.type, "list_size") else 0
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    model = (table.schema.metadata or {}).get(PARQUET_MODEL_KEY)
    return EmbeddingFile(
        [str(p) for p in table.column("path").to_pylist()],
        flat.reshape(len(table), dim) if dim else flat.reshape(len(table), -1),
        model.decode() if model is not None else None,
    )
