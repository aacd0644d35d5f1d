"""Uploaded clips -> mono float32 waves at the model's rate, through the project's own decoder.

The upload is copied to a private temporary file and decoded by ``openclap.audio.io.load_mono`` (the same
code as every other input), after its header's duration is checked against the limit so that a file that
claims hours is refused before any decoding. Errors name the upload's file name, never the temp path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from openclap.audio.io import AudioError, audio_seconds, load_mono, silence_warning
from openclap.serve.errors import ApiError


@dataclass(frozen=True)
class DecodedClip:
    name: str
    wave: np.ndarray  # float32 [N] at the model's sample rate
    sample_rate: int
    warning: str | None  # set for silent audio (still valid; what a model says of it means nothing)

    @property
    def seconds(self) -> float:
        return len(self.wave) / self.sample_rate


def upload_name(filename: str | None) -> str:
    """A printable name for messages: the client's base name, never a path it sent."""
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    return "".join(ch if ch.isprintable() else "?" for ch in name)[:120] or "upload"


def decode_upload(
    fileobj: BinaryIO, filename: str | None, sample_rate: int, max_seconds: float
) -> DecodedClip:
    """Decode an uploaded file object (blocking: call it from a worker thread)."""
    name = upload_name(filename)
    fd, tmp = tempfile.mkstemp(prefix="openclap-upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            fileobj.seek(0)
            shutil.copyfileobj(fileobj, out, 1 << 20)
        if os.path.getsize(tmp) == 0:
            raise ApiError(422, f"{name}: file is empty (0 bytes)")
        _check_duration(name, audio_seconds(tmp), max_seconds)
        try:
            wave = load_mono(tmp, sample_rate)
        except AudioError as err:
            status = 415 if err.problem.startswith("cannot decode") else 422
            raise ApiError(status, f"{name}: {err.problem.replace(tmp, name)}") from None
        _check_duration(name, len(wave) / sample_rate, max_seconds)
        return DecodedClip(name, wave, sample_rate, silence_warning(wave))
    finally:
        os.unlink(tmp)


def _check_duration(name: str, seconds: float | None, max_seconds: float) -> None:
    if seconds is not None and seconds > max_seconds:
        raise ApiError(413, f"{name}: audio is {seconds:.1f} s long; the server's limit is {max_seconds:g} s")
