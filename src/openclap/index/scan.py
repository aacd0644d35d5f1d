"""Decide what an update must do: compare the audio files under the index's roots with the store.

A file whose size and mtime match its stored row is unchanged without being read. Otherwise its SHA-256
is computed: a new hash means it is embedded again, the same hash only refreshes the stored size / mtime.
Stored files no longer found under the roots are removed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from openclap.index.records import SoundIndexError
from openclap.index.store import FileRecord
from openclap.inference import find_audio_files


@dataclass(frozen=True)
class PlanItem:
    """A file to embed, with the hash and stat it had when the update looked at it."""

    path: str
    sha256: str
    size: int
    mtime_ns: int


@dataclass
class Plan:
    todo: list[PlanItem] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    touched: list[tuple[str, int, int]] = field(default_factory=list)  # same content, new size / mtime
    unchanged: int = 0
    failed_before: int = 0
    seen: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # cannot even be hashed


def absolute_roots(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """The folders / files to index as absolute paths (symlinks kept); a missing one is an error."""
    roots = [os.path.abspath(os.path.expanduser(str(p))) for p in paths]
    for root in roots:
        if not os.path.exists(root):
            raise SoundIndexError(f"{root}: no such file or folder to index")
    if not roots:
        raise SoundIndexError("no folders or files to index were given")
    return roots


def plan_update(roots: Sequence[str], stored: dict[str, FileRecord]) -> Plan:
    """What to embed, refresh and remove so the store matches the files under ``roots``."""
    from openclap.eval.cache import file_sha256  # here: importing openclap.eval costs ~0.15 s

    plan = Plan()
    found = sorted(set(find_audio_files(absolute_roots(roots))))
    plan.seen = len(found)
    for path in found:
        try:
            stat = os.stat(path)
            old = stored.get(path)
            if old is not None and (old.size, old.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                plan.unchanged += 1
                plan.failed_before += old.error is not None
                continue
            digest = file_sha256(path)
        except OSError as err:
            plan.unreadable.append((path, f"cannot read the file ({err.strerror or err})"))
            continue
        if old is not None and old.sha256 == digest:
            plan.touched.append((path, stat.st_size, stat.st_mtime_ns))
            plan.unchanged += 1
            plan.failed_before += old.error is not None
        else:
            plan.todo.append(PlanItem(path, digest, stat.st_size, stat.st_mtime_ns))
    present = set(found)
    plan.removed = sorted(p for p in stored if p not in present)
    return plan


def content_after(item: PlanItem) -> str | None:
    """The file's hash now, or None when it is gone; compared with ``item.sha256`` after embedding to catch
    a file modified while it was being read."""
    from openclap.eval.cache import file_sha256

    try:
        return file_sha256(item.path) if Path(item.path).is_file() else None
    except OSError:
        return None
