"""openclap's cache folder on this machine: zero-shot label rows (``labels/``), compiled audio packages
(``compiled/``) and the index's remembered model fingerprints (``index/``) live under it.

Two of them remember what a model's files gave, so that a later run from the same unchanged files need
not build the text tower to find out: ``files_identity`` names those files, and ``DigestAliases`` maps
that name to the digest they gave.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from openclap.atomic import atomic_write


def default_cache_dir() -> Path:
    """``$OPENCLAP_CACHE_DIR`` or ``~/.cache/openclap`` (``$XDG_CACHE_HOME/openclap`` when set)."""
    if folder := os.environ.get("OPENCLAP_CACHE_DIR"):
        return Path(folder).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "openclap"


def files_identity(paths: Sequence[str | os.PathLike[str]], **extra: object) -> str:
    """Hex digest of each path's (resolved path, size, modification time in ns), a folder's regular files
    in it (not below), and ``extra`` (JSON-able values: a config, a precision): what ``DigestAliases``
    key on. A missing path counts as missing."""
    stamps: list[object] = []
    for path in paths:
        where = Path(path).expanduser().resolve()
        files = sorted(p for p in where.iterdir() if p.is_file()) if where.is_dir() else [where]
        for file in files:
            try:
                info = file.stat()
                stamps.append([str(file), info.st_size, info.st_mtime_ns])
            except OSError:
                stamps.append([str(file), None, None])
    text = json.dumps({"files": stamps, "extra": extra}, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


class DigestAliases:
    """A JSON file mapping an identity (``files_identity``) to the hex digest those files gave, read
    afresh on every lookup (another process may have written it). A damaged file, or a value that is not a
    lowercase hex digest of ``digest_chars`` characters (digests name files), is ignored: lookups miss.
    ``keep``: at most this many entries, the most recently remembered (None: all). Writes are atomic; an
    ``OSError`` reaches the caller."""

    def __init__(self, file: Path, digest_chars: int, keep: int | None = None) -> None:
        self.file = file
        self.keep = keep
        self._digest = re.compile(f"[0-9a-f]{{{digest_chars}}}")

    def read(self) -> dict[str, str]:
        """Every valid entry, least recently remembered first."""
        try:
            table = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(table, dict):
            return {}
        return {str(k): v for k, v in table.items() if isinstance(v, str) and self._digest.fullmatch(v)}

    def lookup(self, identity: str) -> str | None:
        """The digest remembered for ``identity``, or None."""
        return self.read().get(identity)

    def remember(self, identity: str, digest: str) -> None:
        """Record that ``identity`` gave ``digest`` (written only when that is new)."""
        table = self.read()
        if table.get(identity) == digest:
            return
        table.pop(identity, None)
        table[identity] = digest
        kept = table if self.keep is None else dict(list(table.items())[-self.keep :])
        atomic_write(self.file, lambda tmp: tmp.write_text(json.dumps(kept, indent=0)))
