"""Decode audio files into float32 arrays, downmix by mean and resample with soxr (high quality).

Every failure raises ``AudioError`` naming the file and the problem, so batch jobs can report and skip it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192000
SILENT_PEAK_DBFS = -60.0  # a file whose loudest sample is below this is reported as silent
BLOCK_SECONDS = 30.0  # files are decoded in blocks of this length ...
BLOCK_SAMPLES = 2**22  # ... and at most this many samples (all channels), 16 MB of float32
# A header's declared length sizes the first buffer only up to this many samples (64 MB): a corrupt
# header can declare 2**36 frames; the buffer grows when the audio really is longer.
PREALLOC_SAMPLES = 2**24


_STREAMS = threading.local()  # each thread's soxr streams, by (input rate, output rate)


class AudioError(ValueError):
    """A file (or array) that cannot be used as audio; the message names the file and the problem."""

    def __init__(self, source: str | os.PathLike[str], problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")

    def __reduce__(self) -> tuple[type[AudioError], tuple[str, str]]:  # crosses process boundaries intact
        return (AudioError, (self.source, self.problem))


def load_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a file with libsndfile (WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF, ...).

    Returns ``(wave [C, N] float32, sample_rate)``. Raises ``AudioError`` for a missing, unreadable,
    corrupt, empty or non-finite file, or a sample rate outside 8-192 kHz.
    """
    path = Path(path)
    _check_file(path)
    with _open(path) as fh:
        sample_rate, channels = int(fh.samplerate), int(fh.channels)
        check_wave(np.zeros((1, 1), np.float32), sample_rate, path)
        out = _GrowingBuffer(_capacity(fh.frames * channels))
        for data in _blocks(fh, path):  # [n, C]
            out.append(data.reshape(-1))
    wave = np.ascontiguousarray(out.result().reshape(-1, channels).T)  # [C, N]
    check_wave(wave, sample_rate, path)
    return wave, sample_rate


class _open:
    """``sf.SoundFile`` whose decoding failures, inside the ``with`` block too, become ``AudioError``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> sf.SoundFile:
        try:
            self.fh = sf.SoundFile(str(self.path))
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
            raise AudioError(self.path, f"cannot decode audio ({err})") from None
        return self.fh

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: object) -> None:
        self.fh.close()
        if isinstance(err, MemoryError):
            raise AudioError(self.path, "the decoded audio does not fit in memory") from None
        if isinstance(err, sf.LibsndfileError | RuntimeError | TypeError) or (
            isinstance(err, ValueError) and not isinstance(err, AudioError)
        ):
            raise AudioError(self.path, f"cannot decode audio ({err})") from None


def _stream(file_sr: int, sample_rate: int) -> soxr.ResampleStream:
    """This thread's VHQ mono stream from ``file_sr`` to ``sample_rate``, reset for a new signal.

    soxr designs a stream's filter when its first chunk arrives (about 2.5 ms here for 44.1 -> 16 kHz,
    more than the resampling of a 5 s file); a cleared stream keeps the filter and gives output identical
    to a new one's, so a folder of files at one rate designs it once per thread.
    """
    streams = getattr(_STREAMS, "by_rates", None)
    if streams is None:
        streams = _STREAMS.by_rates = {}
    stream = streams.get((file_sr, sample_rate))
    if stream is None:
        stream = streams[file_sr, sample_rate] = soxr.ResampleStream(
            file_sr, sample_rate, 1, dtype="float32", quality="VHQ"
        )
    stream.clear()  # also after a file that failed half-way
    return stream


def _blocks(fh: sf.SoundFile, path: Path, seconds: float = BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """The file's samples as float32 [n, C] blocks of at most ``seconds`` and ``BLOCK_SAMPLES``;
    ``AudioError`` at the first non-finite sample."""
    block_frames = max(1, min(int(seconds * fh.samplerate), BLOCK_SAMPLES // max(fh.channels, 1)))
    while True:
        data = fh.read(block_frames, dtype="float32", always_2d=True)
        if data.shape[0] and not np.isfinite(data).all():
            raise AudioError(path, "audio holds non-finite samples (NaN or Inf)")
        yield data
        if data.shape[0] < block_frames:
            return


def _capacity(declared: float) -> int:
    """The first buffer's size for ``declared`` samples (see ``PREALLOC_SAMPLES``)."""
    return int(min(max(declared, 0) + 64, PREALLOC_SAMPLES))


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioError(path, "file not found")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)")


def check_wave(wave: np.ndarray, sample_rate: int, source: str | os.PathLike[str] = "<array>") -> None:
    """Raise ``AudioError`` unless ``wave`` is a non-empty, finite [C, N] or [N] array at a sane rate."""
    if wave.ndim not in (1, 2):
        raise AudioError(source, f"expected a [N] or [channels, N] array, got shape {tuple(wave.shape)}")
    if wave.shape[-1] == 0 or wave.size == 0:
        raise AudioError(source, "audio has no samples")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            source, f"sample rate {sample_rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
        )
    if not np.isfinite(wave).all():
        bad = int((~np.isfinite(wave)).sum())
        raise AudioError(source, f"audio holds {bad} non-finite samples (NaN or Inf)")


def to_mono(wave: np.ndarray) -> np.ndarray:
    """Downmix [C, N] to [N] by the mean over channels (a [N] array is returned unchanged)."""
    if wave.ndim == 1:
        return wave
    return wave.mean(axis=0, dtype=np.float32) if wave.shape[0] > 1 else wave[0]


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample [N] or [C, N] float32 audio with soxr's high-quality (VHQ) filter."""
    if orig_sr == target_sr:
        return wave.astype(np.float32, copy=False)
    if wave.ndim == 1:
        return soxr.resample(wave, orig_sr, target_sr, quality="VHQ").astype(np.float32, copy=False)
    out = soxr.resample(wave.T, orig_sr, target_sr, quality="VHQ")  # soxr wants [N, C]
    return np.ascontiguousarray(out.T, dtype=np.float32)


class _GrowingBuffer:
    """A float32 array filled block by block: preallocated to the expected length (so the peak is one
    copy of the signal, not a block list plus its concatenation) and grown only if a decoder
    under-reported its length."""

    def __init__(self, capacity: int) -> None:
        self.data = np.empty(max(capacity, 1), dtype=np.float32)
        self.size = 0

    def append(self, block: np.ndarray) -> None:
        end = self.size + len(block)
        if end > len(self.data):
            grown = np.empty(max(end, 2 * len(self.data)), dtype=np.float32)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : end] = block
        self.size = end

    def result(self) -> np.ndarray:
        """The filled part (a copy only when more than 1 % of the buffer was unused)."""
        if self.size < 0.99 * len(self.data):
            return self.data[: self.size].copy()
        return self.data[: self.size]


def audio_seconds(path: str | os.PathLike[str]) -> float | None:
    """A file's duration from its header (no decoding), or None when the header cannot be read."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError):
        return None
    return info.frames / info.samplerate if info.samplerate > 0 else None


def peak_dbfs(wave: np.ndarray) -> float:
    """The loudest sample's level in dB relative to full scale (1.0); ``-inf`` for all zeros."""
    peak = max(float(wave.max()), -float(wave.min())) if wave.size else 0.0  # no |wave| copy of long files
    return 20.0 * float(np.log10(peak)) if peak > 0.0 else float("-inf")


def silence_warning(wave: np.ndarray) -> str | None:
    """A message when ``wave`` is silent (peak below ``SILENT_PEAK_DBFS``), else None.

    Silence is valid audio and is still embedded; what a model says about it carries no information.
    """
    level = peak_dbfs(wave)
    if level >= SILENT_PEAK_DBFS:
        return None
    shown = "all samples are zero" if level == float("-inf") else f"peak {level:.1f} dBFS"
    threshold = f"{SILENT_PEAK_DBFS:.0f} dBFS"
    return f"audio is silent ({shown}; the threshold is {threshold}): what a model says of it means nothing"


def load_mono(
    path: str | os.PathLike[str], sample_rate: int, block_seconds: float = BLOCK_SECONDS
) -> np.ndarray:
    """Load a file, downmix by mean and resample to ``sample_rate``: float32 [N].

    The file is decoded in blocks and each block is downmixed and resampled as it streams, so a long
    multi-channel file never needs its full multi-channel array in memory.
    """
    path = Path(path)
    _check_file(path)
    with _open(path) as fh:
        file_sr = int(fh.samplerate)
        check_wave(np.zeros((1, 1), np.float32), file_sr, path)
        resampler = None if file_sr == sample_rate else _stream(file_sr, sample_rate)
        out = _GrowingBuffer(_capacity(np.ceil(fh.frames * sample_rate / file_sr)))
        for data in _blocks(fh, path, block_seconds):  # [n, C]
            mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
            out.append(mono if resampler is None else resampler.resample_chunk(mono))
        if resampler is not None:  # the end is known only once a short block came: flush the filter then
            out.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
    wave = out.result()
    if wave.size == 0:
        raise AudioError(
            path,
            "audio has no samples"
            if resampler is None
            else f"audio is too short to resample from {file_sr} Hz to {sample_rate} Hz",
        )
    return wave


def prepare_array(
    wave: np.ndarray, sample_rate: int, target_sr: int, source: str | os.PathLike[str] = "<array>"
) -> np.ndarray:
    """Validate an in-memory [N] or [C, N] array, downmix it by mean and resample it: float32 [N].

    Integer PCM arrays (int8, uint8, int16, int32, e.g. from ``scipy.io.wavfile``) are scaled to [-1, 1)
    as libsndfile does.
    """
    wave = np.asarray(wave)
    if wave.dtype in (np.int8, np.uint8, np.int16, np.int32):
        info = np.iinfo(wave.dtype)
        half = (float(info.max) - float(info.min) + 1.0) / 2.0  # 32768 for int16, 128 for uint8
        wave = (wave.astype(np.float64) - (float(info.min) + half)) / half
    wave = wave.astype(np.float32, copy=False)
    check_wave(wave, sample_rate, source)
    if wave.ndim == 2 and wave.shape[0] > wave.shape[1]:
        raise AudioError(
            source,
            f"array of shape {tuple(wave.shape)} has more channels than samples; pass [channels, N] "
            "(transpose a [N, channels] array such as soundfile.read returns)",
        )
    mono = resample(to_mono(wave), sample_rate, target_sr)
    if mono.size == 0:
        raise AudioError(source, f"audio is too short to resample from {sample_rate} Hz to {target_sr} Hz")
    return mono
