"""Helpers shared by the evaluation tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared(name: str) -> Path:
    """A folder of ../shared/data, or skip the test with a clear message when it is absent."""
    path = SHARED_DATA / name
    if not (path / "metadata.csv").is_file():
        pytest.skip(f"shared data {path} is not present (tests read ../shared/data in place)")
    return path
