"""The index's SQLite metadata store: model identity, indexed files, and one row per (file, window) with
its embedding.

Layout of an index folder::

    INDEX/index.sqlite     meta (key/value), files (one row per file seen), items (one row per window)
    INDEX/vectors.faiss    the FAISS index over items.vector, rebuilt from the store (openclap.index.vectors)
    INDEX/parts/*.sqlite   embedding passes in progress (one per rank), merged into index.sqlite
    INDEX/.lock            the writer lock (openclap.index.lock)

The store is the source of truth: every vector lives in ``items.vector`` (float32 bytes), so the FAISS
file can always be rebuilt from it. WAL journaling lets readers (a search server) read while a writer
commits. Part stores use the same tables, plus a ``status`` per file (``ok``, ``error``, ``changed``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "openclap-index/1"
STORE_NAME = "index.sqlite"
VECTORS_NAME = "vectors.faiss"
PARTS_DIR = "parts"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, sha256 TEXT, size INTEGER, mtime_ns INTEGER, duration REAL, error TEXT,
    status TEXT NOT NULL DEFAULT 'ok');
CREATE TABLE IF NOT EXISTS items (
    item_id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL, start REAL NOT NULL,
    end REAL NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS items_path ON items(path);
"""


@dataclass(frozen=True)
class FileRecord:
    """One file as the store knows it; ``error`` is set (and no windows stored) for a file that failed."""

    path: str
    sha256: str | None
    size: int
    mtime_ns: int
    duration: float | None = None
    error: str | None = None
    status: str = "ok"


@dataclass(frozen=True)
class WindowRows:
    """The embedded windows of one file: starts/ends in seconds and vectors [W, D] float32."""

    starts: Sequence[float]
    ends: Sequence[float]
    vectors: np.ndarray


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """A connection to a store file; a read-only one never creates or changes it."""
    if readonly:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed batch survives a killed process
        conn.executescript(_SCHEMA)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def is_index(root: Path) -> bool:
    return (root / STORE_NAME).is_file()


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def write_meta(conn: sqlite3.Connection, values: dict[str, object]) -> None:
    """Set meta keys (non-strings stored as JSON) in the current transaction."""
    conn.executemany(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in values.items()],
    )


def files(conn: sqlite3.Connection) -> dict[str, FileRecord]:
    rows = conn.execute("SELECT path, sha256, size, mtime_ns, duration, error, status FROM files")
    return {row[0]: FileRecord(*row) for row in rows}


def add_file(conn: sqlite3.Connection, record: FileRecord, windows: WindowRows | None) -> None:
    """Replace ``record.path``'s row and windows (none for a failed file) in the current transaction."""
    conn.execute("DELETE FROM items WHERE path = ?", (record.path,))
    conn.execute(
        "INSERT OR REPLACE INTO files(path, sha256, size, mtime_ns, duration, error, status) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            record.path,
            record.sha256,
            record.size,
            record.mtime_ns,
            record.duration,
            record.error,
            record.status,
        ),
    )
    if windows is not None:
        vectors = np.ascontiguousarray(windows.vectors, dtype=np.float32)
        conn.executemany(
            "INSERT INTO items(path, start, end, vector) VALUES (?, ?, ?, ?)",
            [
                (record.path, float(s), float(e), v.tobytes())
                for s, e, v in zip(windows.starts, windows.ends, vectors, strict=True)
            ],
        )


def remove_files(conn: sqlite3.Connection, paths: Iterable[str]) -> None:
    for path in paths:
        conn.execute("DELETE FROM items WHERE path = ?", (path,))
        conn.execute("DELETE FROM files WHERE path = ?", (path,))


def set_stat(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int) -> None:
    """Record a new size / mtime for a file whose content hash did not change (touched, copied back)."""
    conn.execute("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?", (size, mtime_ns, path))


def merge_parts(conn: sqlite3.Connection, parts: Sequence[Path]) -> tuple[list[FileRecord], int]:
    """Fold part stores into ``conn`` in one transaction, files in path order across all parts (so item
    ids do not depend on how files were shared among ranks), windows in time order.

    ``ok`` and ``error`` files replace their rows; ``changed`` ones (modified while being embedded) are
    only returned, so the next update embeds them again. Merging a part twice gives the same content.
    Returns the parts' file records and the number of windows merged.
    """
    sources = [connect(part, readonly=True) for part in parts]
    merged = 0
    try:
        records = sorted(((r, src) for src in sources for r in files(src).values()), key=lambda x: x[0].path)
        with conn:
            for record, src in records:
                if record.status == "changed":
                    continue
                rows = src.execute(
                    "SELECT start, end, vector FROM items WHERE path = ? ORDER BY start", (record.path,)
                ).fetchall()
                windows = None
                if record.error is None and rows:
                    vectors = np.stack([np.frombuffer(v, np.float32) for _, _, v in rows])
                    windows = WindowRows([r[0] for r in rows], [r[1] for r in rows], vectors)
                add_file(conn, record, windows)
                merged += len(rows)
    finally:
        for src in sources:
            src.close()
    return [r for r, _ in records], merged


def all_vectors(conn: sqlite3.Connection, dim: int, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Every item's id [N] int64 and vector [N, D] float32, in id order."""
    count = conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    ids = np.empty(count, np.int64)
    vectors = np.empty((count, dim), np.float32)
    for i, (item_id, blob) in enumerate(conn.execute("SELECT item_id, vector FROM items ORDER BY item_id")):
        ids[i] = item_id
        vectors[i] = np.frombuffer(blob, np.float32)
    return ids, vectors


def item_rows(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, tuple]:
    """``item_id -> (path, start, end, duration, sha256)`` for the ids that exist."""
    out: dict[int, tuple] = {}
    for i in range(0, len(ids), 500):
        chunk = [int(x) for x in ids[i : i + 500]]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            "SELECT i.item_id, i.path, i.start, i.end, f.duration, f.sha256 FROM items i "
            f"JOIN files f ON f.path = i.path WHERE i.item_id IN ({marks})",
            chunk,
        )
        out.update({row[0]: row[1:] for row in rows})
    return out


def ids_with_prefix(conn: sqlite3.Connection, prefix: str) -> np.ndarray:
    rows = conn.execute(
        "SELECT item_id FROM items WHERE substr(path, 1, length(?)) = ?", (prefix, prefix)
    ).fetchall()
    return np.array([r[0] for r in rows], np.int64)


def count_items(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])


def part_paths(root: Path) -> list[Path]:
    folder = root / PARTS_DIR
    return sorted(folder.glob("part-*.sqlite")) if folder.is_dir() else []
