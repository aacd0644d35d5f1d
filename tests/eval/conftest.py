"""Fixtures for evaluation tests: tiny real audio files written on the fly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

WriteAudio = Callable[..., Path]


@pytest.fixture
def write_audio() -> WriteAudio:
    """``write_audio(path, seed=0, n=400, sample_rate=8000)``: sine + noise, format from the suffix."""

    def write(path: Path, seed: int = 0, n: int = 400, sample_rate: int = 8000) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        t = np.arange(n) / sample_rate
        wave = 0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.05 * rng.standard_normal(n)
        sf.write(path, wave.astype(np.float32), sample_rate)
        return path

    return write
