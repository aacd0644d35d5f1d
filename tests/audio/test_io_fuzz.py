"""Property-based fuzzing of the decoder: malformed WAV / FLAC / OGG / MP3 bytes (truncated, overwritten,
wrong headers, absurd sample rates and channel counts, huge declared lengths), mutated from real
recordings in ../shared/data, must end in ``AudioError`` or a valid float32 array, within a time bound.

The default run tries ``OPENCLAP_FUZZ_EXAMPLES`` (200) derandomised cases per loader, so CI is
deterministic; a longer run: ``OPENCLAP_FUZZ_EXAMPLES=5000 pytest tests/audio/test_io_fuzz.py``.
"""

from __future__ import annotations

import faulthandler
import io
import os
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from openclap.audio.io import AudioError, load_audio, load_mono
from tests.helpers import ESC50_CLIP

DATA = ESC50_CLIP.parents[2]
MP3_CLIP = DATA / "philharmonia" / "audio" / "bassoon" / "bassoon_E5_025_piano_normal.mp3"
EXAMPLES = int(os.environ.get("OPENCLAP_FUZZ_EXAMPLES", "200"))
SECONDS_PER_CASE = 5.0  # one case (both loaders) must finish well within this
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,  # the time bound is checked by the test itself (and a watchdog for hangs)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

if not (ESC50_CLIP.is_file() and MP3_CLIP.is_file()):
    pytest.skip(f"real audio not found under {DATA} (see ../shared/data/README.md)", allow_module_level=True)


def _encode(wave: np.ndarray, sample_rate: int, fmt: str, subtype: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, sample_rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _seeds() -> dict[str, bytes]:
    """Small real files of each container: 0.25 s of an ESC-50 recording (stereo for WAV) re-encoded,
    and a real Philharmonia MP3."""
    wave, sample_rate = sf.read(str(ESC50_CLIP), dtype="float32", frames=11025)
    stereo = np.stack([wave, wave[::-1]], axis=1)
    return {
        ".wav": _encode(stereo, sample_rate, "WAV", "PCM_16"),
        ".flac": _encode(wave, sample_rate, "FLAC", "PCM_16"),
        ".ogg": _encode(wave, sample_rate, "OGG", "VORBIS"),
        ".mp3": MP3_CLIP.read_bytes()[:6000],
    }


SEEDS = _seeds()
ABSURD_U32 = [0, 1, 7, 7999, 192001, 10**9, 2**31 - 1, 2**32 - 1]
ABSURD_U16 = [0, 1, 3, 255, 1024, 1025, 65535]
# (offset, struct format) of the canonical WAV header's fields: RIFF size, channels, rate, byte rate,
# block align, bits per sample, data size.
WAV_FIELDS = [(4, "<I"), (22, "<H"), (24, "<I"), (28, "<I"), (32, "<H"), (34, "<H"), (40, "<I")]


def _put(data: bytes, offset: int, chunk: bytes) -> bytes:
    offset = min(offset, len(data))
    return data[:offset] + chunk + data[offset + len(chunk) :]


def _flac_streaminfo(data: bytes, rate: int, channels: int, total: int) -> bytes:
    """Overwrite FLAC STREAMINFO's sample rate (20 bits), channels - 1 (3), keep bits - 1 (5) and set
    total samples (36 bits): bytes 18-25 of the file."""
    old = int.from_bytes(data[18:26], "big")
    bits = (old >> 36) & 0x1F
    packed = ((rate & 0xFFFFF) << 44) | (((channels - 1) & 0x7) << 41) | (bits << 36) | (total & (2**36 - 1))
    return _put(data, 18, packed.to_bytes(8, "big"))


@st.composite
def malformed(draw: st.DrawFn) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from(sorted(SEEDS)))
    data = SEEDS[suffix]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "overwrite", "header", "insert", "delete", "field"]))
        if kind == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif kind == "overwrite":
            data = _put(data, draw(st.integers(0, len(data))), draw(st.binary(min_size=1, max_size=16)))
        elif kind == "header":  # the first 64 bytes hold every container's format fields
            data = _put(data, draw(st.integers(0, 63)), draw(st.binary(min_size=1, max_size=4)))
        elif kind == "insert":
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]
        elif kind == "delete":
            at = draw(st.integers(0, len(data)))
            data = data[:at] + data[at + draw(st.integers(1, 256)) :]
        elif suffix == ".wav":
            offset, fmt = draw(st.sampled_from(WAV_FIELDS))
            value = draw(st.sampled_from(ABSURD_U16 if fmt == "<H" else ABSURD_U32))
            data = _put(data, offset, struct.pack(fmt, value))
        elif suffix == ".flac" and len(data) >= 26:
            rate = draw(st.sampled_from([0, 1, 7999, 192001, 655350, 2**20 - 1]))
            total = draw(st.sampled_from([0, 1, 2**20, 2**32, 2**36 - 1]))
            data = _flac_streaminfo(data, rate, draw(st.integers(1, 8)), total)
    return suffix, data


def _check(loader: Callable[[Path], np.ndarray], path: Path, mono: bool) -> None:
    start = time.perf_counter()
    name = f"{path.suffix} {'load_mono' if mono else 'load_audio'}"
    try:
        wave = loader(path)
    except AudioError as err:
        assert str(path) in str(err)
        event(f"{name}: AudioError")  # counted in --hypothesis-show-statistics
    else:
        event(f"{name}: array")
        assert isinstance(wave, np.ndarray) and wave.dtype == np.float32
        assert wave.ndim == (1 if mono else 2) and wave.shape[-1] > 0 and wave.size > 0
        assert np.isfinite(wave).all()
    took = time.perf_counter() - start
    assert took < SECONDS_PER_CASE, f"{path.name}: {took:.1f} s"


@pytest.fixture(scope="module")
def watchdog():
    """A case that hangs inside the C decoder cannot be interrupted: end the run with a stack dump."""
    faulthandler.dump_traceback_later(60 + 2 * SECONDS_PER_CASE * EXAMPLES, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


# Found by the 5,000-case run: a FLAC header declaring 2**36 - 1 frames made load_audio allocate 256 GiB.
HUGE_FLAC = (".flac", _flac_streaminfo(SEEDS[".flac"], 44100, 1, 2**36 - 1))


@FUZZ
@given(case=malformed())
@example(case=HUGE_FLAC)
def test_malformed_audio_ends_in_audio_error_or_a_valid_array(
    watchdog: None, case: tuple[str, bytes]
) -> None:
    suffix, data = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(data)
        _check(lambda p: load_audio(p)[0], path, mono=False)
        _check(lambda p: load_mono(p, 16000), path, mono=True)


def test_seeds_are_valid_audio() -> None:
    """The unmutated seeds decode, so the fuzzer starts from real, working files."""
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, data in SEEDS.items():
            path = Path(tmp) / f"seed{suffix}"
            path.write_bytes(data)
            assert load_mono(path, 16000).size > 1000, suffix
