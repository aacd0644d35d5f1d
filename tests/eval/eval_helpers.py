"""Helpers shared by the evaluation tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 16000
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared(name: str) -> Path:
    """A folder of ../shared/data, or skip the test with a clear message when it is absent."""
    path = SHARED_DATA / name
    if not (path / "metadata.csv").is_file():
        pytest.skip(f"shared data {path} is not present (tests read ../shared/data in place)")
    return path


def _clip(kind: str, i: int, rng: np.random.Generator) -> np.ndarray:
    """0.7-1.4 s (the tiny model's clip is 1 s): a tone of varying pitch, white noise, or both."""
    n = int(SR * (0.7 + 0.1 * (i % 8)))
    tone = 0.3 * np.sin(2 * np.pi * (300 + 40 * i) * np.arange(n) / SR)
    noise = 0.1 * rng.standard_normal(n)
    wave = {"tone": tone + 0.01 * rng.standard_normal(n), "noise": noise, "tone;noise": tone + noise}
    return wave[kind].astype(np.float32)


def write_tone_noise_folder(root: Path, kinds: list[str]) -> Path:
    """A csv-layout folder (metadata.csv: filename, label, fold) of short WAVs, one per kind, in 2 folds."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = ["filename,label,fold"]
    for i, kind in enumerate(kinds):
        sf.write(root / f"{i:02d}.wav", _clip(kind, i, rng), SR)
        rows.append(f"{i:02d}.wav,{kind},{1 + (i // len(set(kinds))) % 2}")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root
