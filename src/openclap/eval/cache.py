"""On-disk embedding cache, so each model embeds each dataset once.

An entry is keyed by the model's identity string (e.g. its name and checkpoint hash, see
``model_identity``) and the audio file's resolved path, size and modification time: editing or
replacing a file invalidates its entry. Each model gets its own folder of ``.npz`` shards holding
``keys`` (unicode array) and ``embeddings`` (float32 [N, D]); shards load with ``allow_pickle=False``
and are written atomically. Files that failed to embed are not cached and are retried next time.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

PathLike = str | os.PathLike[str]


class EmbedOutput(Protocol):
    """What an embedding function returns (``openclap.inference.EmbeddingResult`` fits)."""

    paths: list[str]
    embeddings: np.ndarray
    errors: list[tuple[str, str]]


@dataclass
class EmbeddingTable:
    """Embeddings [N, D] in the order of the requested paths; rows of failed files are zero and
    ``valid`` is False for them; ``errors`` holds (path, message)."""

    embeddings: NDArray[np.float32]
    valid: NDArray[np.bool_]
    errors: list[tuple[str, str]] = field(default_factory=list)
    n_cached: int = 0
    n_computed: int = 0


def file_key(path: PathLike) -> str:
    """Cache key of an audio file: resolved path, size in bytes and mtime in ns."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return f"{resolved}\t{stat.st_size}\t{stat.st_mtime_ns}"


def file_sha256(path: PathLike, block_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(block_size), b""):
            digest.update(block)
    return digest.hexdigest()


def model_identity(name: str, checkpoint: PathLike | None = None) -> str:
    """Identity string of a model: its name, plus the SHA-256 of its checkpoint file(s) when given
    (every file of a checkpoint folder, in sorted order)."""
    if checkpoint is None:
        return name
    path = Path(checkpoint)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256("".join(f"{p.name}:{file_sha256(p)}" for p in files).encode()).hexdigest()
    return f"{name}@sha256:{digest}"


class EmbeddingCache:
    """Embeddings of audio files for one model identity, stored under ``cache_dir``."""

    def __init__(self, cache_dir: PathLike, model_id: str) -> None:
        self.model_id = model_id
        self.folder = Path(cache_dir) / hashlib.sha256(model_id.encode()).hexdigest()[:16]
        self._entries: dict[str, NDArray[np.float32]] | None = None

    def _load(self) -> dict[str, NDArray[np.float32]]:
        if self._entries is None:
            self._entries = {}
            for shard in sorted(self.folder.glob("*.npz")):
                with np.load(shard, allow_pickle=False) as data:
                    self._entries.update(zip(data["keys"].tolist(), data["embeddings"], strict=True))
        return self._entries

    def lookup(self, keys: Sequence[str]) -> list[NDArray[np.float32] | None]:
        """The cached embedding of each key, or None."""
        entries = self._load()
        return [entries.get(k) for k in keys]

    def store(self, keys: Sequence[str], embeddings: NDArray[np.floating]) -> None:
        """Add entries as one new shard (written to a temporary file, then renamed)."""
        if len(keys) == 0:
            return
        emb = np.asarray(embeddings, dtype=np.float32)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "model_id.txt").write_text(self.model_id + "\n")
        name = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, keys=np.array(list(keys), dtype=str), embeddings=emb)
        os.replace(tmp, self.folder / f"shard-{name}.npz")
        self._load().update(zip(keys, emb, strict=True))

    def embed(self, paths: Sequence[PathLike], compute: Callable[[list[str]], EmbedOutput]) -> EmbeddingTable:
        """Embeddings of ``paths``, computing (and storing) only those not cached yet."""
        names = [str(p) for p in paths]
        keys = [file_key(p) if Path(p).is_file() else "" for p in names]
        rows = self.lookup(keys)
        n_cached = sum(row is not None for row in rows)
        errors = [(names[i], "file not found") for i, k in enumerate(keys) if not k]
        todo = [i for i, row in enumerate(rows) if row is None and keys[i]]
        n_computed = 0
        if todo:
            out = compute([names[i] for i in todo])
            computed = dict(zip(out.paths, np.asarray(out.embeddings, dtype=np.float32), strict=True))
            errors += list(out.errors)
            done = [i for i in todo if names[i] in computed]
            for i in done:
                rows[i] = computed[names[i]]
            if done:
                self.store([keys[i] for i in done], np.stack([computed[names[i]] for i in done]))
            n_computed = len(done)
        dim = next((r.shape[0] for r in rows if r is not None), 0)
        table = np.zeros((len(names), dim), dtype=np.float32)
        valid = np.array([r is not None for r in rows], dtype=bool)
        for i, row in enumerate(rows):
            if row is not None:
                table[i] = row
        return EmbeddingTable(table, valid, errors, n_cached=n_cached, n_computed=n_computed)
