"""Fixtures of the index tests: a folder of real ESC-50 clips and helpers to read an index back."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import ESC50_AUDIO

# four real 5 s clips of three classes (dog, rooster, hand saw, ...), copied so tests may change them
CLIPS = ("4-102844-A-49.flac", "4-182395-A-0.flac", "4-164021-A-1.flac", "4-182039-A-30.flac")


@pytest.fixture
def clip_dir(tmp_path: Path) -> Path:
    """A folder of four real ESC-50 fold-4 clips (5 s, 44.1 kHz) in a subfolder tree."""
    if not ESC50_AUDIO.is_dir():
        pytest.skip(f"real audio not found at {ESC50_AUDIO} (see ../shared/data/README.md)")
    folder = tmp_path / "sounds"
    for i, name in enumerate(CLIPS):
        target = folder / ("a" if i < 2 else "b") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ESC50_AUDIO / name, target)
    return folder


def rows(index: Path) -> list[tuple[int, str, float, float, np.ndarray]]:
    """Every stored window: (item_id, path, start, end, vector), in id order."""
    conn = sqlite3.connect(str(index / "index.sqlite"))
    try:
        found = conn.execute("SELECT item_id, path, start, end, vector FROM items ORDER BY item_id")
        return [(i, p, s, e, np.frombuffer(v, np.float32)) for i, p, s, e, v in found]
    finally:
        conn.close()


def same_content(a: Path, b: Path, atol: float = 0.0) -> None:
    """Two indexes hold the same windows (paths relative to their roots may differ: compare by name)."""
    ra, rb = rows(a), rows(b)
    assert [(Path(p).name, s, e) for _, p, s, e, _ in ra] == [(Path(p).name, s, e) for _, p, s, e, _ in rb]
    for x, y in zip(ra, rb, strict=True):
        np.testing.assert_allclose(x[4], y[4], atol=atol, rtol=0)
