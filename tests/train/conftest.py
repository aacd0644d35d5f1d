"""Fixtures for the trainer tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.train.tiny_runs import write_tone_manifest


@pytest.fixture(scope="session")
def bad_tone_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone_manifest(tmp_path_factory.mktemp("bad_tones"), bad=True)
