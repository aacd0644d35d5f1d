"""An optional on-disk cache of decoded, downmixed and resampled audio, so later epochs skip decoding.

Each file becomes ``<folder>/<sha256 of (absolute path, size, mtime, sample rate)>.npy`` (float32 [N]).
A changed source file gets a new key; entries are written atomically, so several data-loader workers
(or ranks) can fill the cache at once.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from openclap.atomic import atomic_write
from openclap.audio.io import AudioError, load_mono


class AudioCache:
    """``load(path)`` returns the mono waveform at ``sample_rate``, decoding only on the first call."""

    def __init__(self, folder: str | os.PathLike[str], sample_rate: int) -> None:
        self.folder = Path(folder)
        self.sample_rate = int(sample_rate)
        self.folder.mkdir(parents=True, exist_ok=True)

    def key(self, path: str | os.PathLike[str]) -> str:
        source = Path(path).resolve()
        try:
            stat = source.stat()
        except OSError:
            raise AudioError(source, "file not found") from None
        ident = f"{source}|{stat.st_size}|{stat.st_mtime_ns}|{self.sample_rate}"
        return hashlib.sha256(ident.encode()).hexdigest()

    def entry_path(self, path: str | os.PathLike[str]) -> Path:
        return self.folder / f"{self.key(path)}.npy"

    def load(self, path: str | os.PathLike[str]) -> np.ndarray:
        cached = self.entry_path(path)
        if cached.is_file():
            try:
                return np.load(cached, allow_pickle=False)
            except (OSError, ValueError):  # a damaged entry: decode again and overwrite it
                pass
        wave = load_mono(path, self.sample_rate)
        atomic_write(cached, lambda tmp: _save_npy(tmp, wave))
        return wave


def _save_npy(path: Path, wave: np.ndarray) -> None:
    with open(path, "wb") as fh:
        np.save(fh, np.ascontiguousarray(wave, dtype=np.float32), allow_pickle=False)
