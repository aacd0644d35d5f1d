"""Zero-shot classifier rows kept per (model, template set, label): each label is embedded once.

A row is ``normalize(mean over templates of normalize(text_emb(template.format(label))))``, so it depends
on the text side of the model (text tower, tokenizer settings, text projection, inference precision),
on the template list and on the label, and on nothing else. ``LabelCache`` keys rows by exactly that:

- the model by a fingerprint: a BLAKE2 hash of every text-side tensor's bytes, the text-encoder config
  and the precision (recomputed only when a parameter was changed in place: torch's version counters);
- the template set by its list, in order;
- the label by its text.

Rows live in memory; with a ``folder`` they are also stored there, one ``.npz`` per (model, template
set), written atomically, so the next run (``openclap classify``) starts with them.

The fingerprint needs the built text tower. So that a run whose labels are all cached need not build it
(``openclap classify``: half its start-up), a folder also keeps ``aliases.json``: an *identity* of the
files the text side is loaded from (``files_identity``: each file's path, size and modification time,
with the config and precision the caller adds) mapped to the fingerprint those files gave when last
built. ``lookup(identity, ...)`` answers from it; a changed file gives another identity, which misses.
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from openclap.atomic import atomic_write
from openclap.checkpoint import tensor_bytes
from openclap.model import ClapModel
from openclap.user_cache import DigestAliases, default_cache_dir, files_identity  # re-exported

__all__ = ["LabelCache", "default_cache_dir", "files_identity", "text_fingerprint"]

ALIASES = "aliases.json"  # identity -> text fingerprint, in a LabelCache's folder

_FINGERPRINTS: weakref.WeakKeyDictionary[ClapModel, tuple[tuple[int, ...], str]] = weakref.WeakKeyDictionary()


def _text_tensors(model: ClapModel) -> list[tuple[str, torch.Tensor]]:
    parts = (("text_encoder", model.text_encoder), ("text_projection", model.text_projection))
    return [(f"{prefix}.{name}", t) for prefix, module in parts for name, t in module.state_dict().items()]


def text_fingerprint(model: ClapModel) -> str:
    """Hex digest of everything a text embedding of ``model`` depends on (see the module docstring)."""
    tensors = _text_tensors(model)
    versions = tuple(t._version for _, t in tensors)
    memo = _FINGERPRINTS.get(model)
    if memo is not None and memo[0] == versions:
        return memo[1]
    digest = hashlib.blake2b(digest_size=20)
    digest.update(repr(model.config.text_encoder).encode())
    digest.update(model.precision.encode())
    for name, tensor in tensors:
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)}".encode())
        digest.update(tensor_bytes(data))
    _FINGERPRINTS[model] = (versions, digest.hexdigest())
    return digest.hexdigest()


def _template_key(templates: Sequence[str]) -> str:
    return hashlib.blake2b(json.dumps(list(templates)).encode(), digest_size=8).hexdigest()


class LabelCache:
    """Classifier rows per (model fingerprint, templates, label), in memory and optionally in ``folder``."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.tables: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self.hits = 0
        self.misses = 0
        # identity -> text fingerprint (40 hex digits: blake2b, 20 bytes), beside the rows
        self.aliases = None if self.folder is None else DigestAliases(self.folder / ALIASES, 40)
        #: Why the folder could not be written (the first such error), or None: the rows then stay in
        #: memory only and the next process embeds those labels again; nothing else fails.
        self.write_error: str | None = None

    def _file(self, key: tuple[str, str]) -> Path | None:
        return None if self.folder is None else self.folder / f"labels-{key[0][:24]}-{key[1]}.npz"

    def _table(self, key: tuple[str, str]) -> dict[str, np.ndarray]:
        if key not in self.tables:
            self.tables[key] = self._read(self._file(key))
        return self.tables[key]

    @staticmethod
    def _read(file: Path | None) -> dict[str, np.ndarray]:
        if file is None or not file.is_file():
            return {}
        try:
            with np.load(file, allow_pickle=False) as data:
                return dict(zip(data["labels"].tolist(), data["rows"], strict=True))
        except (OSError, ValueError, KeyError):  # a damaged cache file is rebuilt, never trusted
            return {}

    def _write(self, key: tuple[str, str]) -> None:
        file = self._file(key)
        if file is None:
            return
        table = self._read(file) | self.tables[key]  # keep rows another process added meanwhile
        labels, rows = np.array(list(table), dtype=np.str_), np.stack(list(table.values()))

        def write(tmp: Path) -> None:
            with tmp.open("wb") as fh:  # a file object: np.savez would add ".npz" to a path
                np.savez(fh, labels=labels, rows=rows)

        self._guarded(file, lambda: atomic_write(file, write))

    def _guarded(self, file: Path, write: Callable[[], object]) -> None:
        """Run ``write`` (of ``file``); an ``OSError`` (read-only or full disk, a file in the folder's
        place) is recorded in ``write_error`` instead of raised."""
        try:
            write()
        except OSError as err:
            if self.write_error is None:
                self.write_error = f"{file.parent}: cannot write the label cache ({err.strerror or err})"

    def lookup(self, identity: str, labels: Sequence[str], templates: Sequence[str]) -> torch.Tensor | None:
        """Rows [len(labels), D] when the folder knows ``identity``'s fingerprint and holds every label
        for ``templates``; else None (nothing counted)."""
        fingerprint = self.aliases.lookup(identity) if self.aliases is not None else None
        if fingerprint is None:
            return None
        table = self._table((fingerprint, _template_key(templates)))
        if not all(label in table for label in labels):
            return None
        self.hits += len(labels)
        return torch.from_numpy(np.stack([table[label] for label in labels]))

    def remember(self, identity: str, model: ClapModel) -> None:
        """Record that ``identity`` gave ``model``'s text fingerprint (atomically; a no-op without a
        folder)."""
        aliases = self.aliases
        if aliases is not None:  # written only when new (a run that missed on a new label writes nothing)
            self._guarded(aliases.file, lambda: aliases.remember(identity, text_fingerprint(model)))

    def rows(
        self,
        model: ClapModel,
        labels: Sequence[str],
        templates: Sequence[str],
        encode: Callable[[list[str]], torch.Tensor],
    ) -> torch.Tensor:
        """Rows [len(labels), D] for ``labels``; ``encode(missing_labels)`` computes the missing ones."""
        key = (text_fingerprint(model), _template_key(templates))
        table = self._table(key)
        missing = list(dict.fromkeys(label for label in labels if label not in table))
        self.hits += len(labels) - len(missing)
        self.misses += len(missing)
        if missing:
            for label, row in zip(missing, encode(missing).numpy(), strict=True):
                table[label] = row
            self._write(key)
        return torch.from_numpy(np.stack([table[label] for label in labels]))
