"""Fixtures for the data tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from openclap.data.manifest import ManifestEntry
from tests.data.synthetic_audio import write_tone


@pytest.fixture
def tone_entries(tmp_path: Path) -> list[ManifestEntry]:
    """Eight clips (0.3-1.0 s, 16 kHz, FLAC) with two captions and a label each."""
    entries = []
    for i in range(8):
        path = write_tone(tmp_path / f"tone{i}.flac", 200.0 * (i + 1), seconds=0.3 + 0.1 * i)
        entries.append(
            ManifestEntry(
                audio=str(path),
                captions=(f"tone {i}", f"a beep at {200 * (i + 1)} hertz"),
                labels=(f"class{i % 2}",),
                split="train" if i < 6 else "val",
                source="synthetic",
                license="CC0",
            )
        )
    return entries
