"""Audio decoding: every container, bit depth, rate and channel count libsndfile writes here; downmix;
resampling quality; streaming equals whole-file loading; bad files raise errors naming file and problem."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from openclap.audio.io import (
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    AudioError,
    audio_seconds,
    load_audio,
    load_mono,
    peak_dbfs,
    prepare_array,
    resample,
    silence_warning,
    to_mono,
)
from tests.helpers import (
    EXTENSIONS,
    LOSSLESS,
    PCM_BITS,
    RATES,
    dominant_frequency,
    exact_pcm,
    noise,
    sine,
    write,
)

# One case per (container, subtype, channel count); the sample rates rotate through RATES so that
# every rate is decoded by every container without multiplying the case count.
_LOSSLESS_CASES = [
    (fmt, subtype, channels, RATES[i % len(RATES)])
    for i, (fmt, subtype, channels) in enumerate(
        (fmt, subtype, channels)
        for fmt, subtypes in LOSSLESS.items()
        for subtype in subtypes
        for channels in (1, 2, 6)
    )
]


@pytest.mark.parametrize(("fmt", "subtype", "channels", "rate"), _LOSSLESS_CASES)
def test_lossless_files_decode_exactly(
    tmp_path: Path, fmt: str, subtype: str, channels: int, rate: int
) -> None:
    n = 1500
    if subtype in PCM_BITS:
        data, expected = exact_pcm(subtype, n, channels, seed=channels)
    else:  # FLOAT / DOUBLE: float32 values written as such come back bit-exactly
        dtype = np.float64 if subtype == "DOUBLE" else np.float32
        data = noise(n, seed=channels, amplitude=0.4, channels=channels).T.astype(dtype)
        data += np.linspace(-0.2, 0.2, n, dtype=dtype)[:, None] * (np.arange(channels) + 1) / channels
        expected = np.ascontiguousarray(data.T.astype(np.float32))
    path = write(tmp_path / f"x{EXTENSIONS[fmt]}", data, rate, subtype)
    assert sf.info(str(path)).subtype == subtype

    wave, sample_rate = load_audio(path)

    assert sample_rate == rate
    assert wave.dtype == np.float32 and wave.shape == (channels, n)
    np.testing.assert_array_equal(wave, expected)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32"])
def test_float_written_to_pcm_is_within_one_quantisation_step(tmp_path: Path, subtype: str) -> None:
    wave = sine(997.0, 0.1, 44100, amplitude=0.7) + noise(4410, amplitude=0.05)  # peak < 1: no clipping
    path = write(tmp_path / "q.wav", wave, 44100, subtype)
    decoded, _ = load_audio(path)
    step = 2.0 ** (1 - PCM_BITS[subtype])
    error = np.abs(decoded[0].astype(np.float64) - wave)
    assert error.max() <= step
    assert error.max() > 0 or subtype == "PCM_32"  # the check can see quantisation at all


_LOSSY_CASES = (
    [("OGG", "VORBIS", rate, channels) for rate in RATES for channels in (1, 2, 6)]
    + [("OGG", "OPUS", rate, channels) for rate in (8000, 16000, 48000) for channels in (1, 2, 6)]
    + [
        ("MP3", "MPEG_LAYER_III", rate, channels)
        for rate in (8000, 11025, 16000, 22050, 44100, 48000)
        for channels in (1, 2)
    ]
)


@pytest.mark.parametrize(("fmt", "subtype", "rate", "channels"), _LOSSY_CASES)
def test_lossy_files_keep_frequency_and_level(
    tmp_path: Path, fmt: str, subtype: str, rate: int, channels: int
) -> None:
    if fmt not in sf.available_formats() or subtype not in sf.available_subtypes(fmt):
        pytest.skip(f"this libsndfile cannot write {fmt}/{subtype}")
    # Channel 5 of a 6-channel Vorbis/Opus file is the LFE, which the encoders low-pass (and Vorbis
    # shapes by up to +25 %): give it 60 Hz and a looser level check.
    freqs = [60.0 if c == 5 else 300.0 + 200.0 * c for c in range(channels)]
    data = np.stack([sine(f, 0.5, rate, amplitude=0.5) for f in freqs], axis=1)
    path = write(tmp_path / f"x{EXTENSIONS[fmt]}", data, rate, subtype)

    wave, sample_rate = load_audio(path)

    assert sample_rate == rate
    assert wave.shape == (channels, data.shape[0])
    for c, freq in enumerate(freqs):
        assert dominant_frequency(wave[c], rate) == pytest.approx(freq, rel=2e-3), f"channel {c}"
        middle = wave[c, rate // 8 : -rate // 8]
        level = pytest.approx(0.5 / np.sqrt(2), rel=0.3 if c == 5 else 0.1)
        assert np.sqrt(np.mean(middle**2)) == level, f"channel {c}"


def test_six_channel_downmix_is_the_mean(tmp_path: Path) -> None:
    data, expected = exact_pcm("PCM_24", 4000, 6, seed=3)
    path = write(tmp_path / "six.flac", data, 22050, "PCM_24")
    mono = load_mono(path, 22050)  # native rate: no resampling, only the downmix
    np.testing.assert_allclose(mono, expected.astype(np.float64).mean(axis=0), rtol=0, atol=1e-7)
    np.testing.assert_array_equal(to_mono(load_audio(path)[0]), mono)


def test_to_mono_shapes() -> None:
    wave = noise(100, channels=3)
    np.testing.assert_allclose(to_mono(wave), wave.mean(axis=0), atol=1e-7)
    assert to_mono(wave[:1]).shape == (100,)
    first = wave[0]
    assert to_mono(first) is first


@pytest.mark.parametrize(
    ("rate", "target"),
    [(8000, 16000), (22050, 16000), (44100, 16000), (48000, 44100), (96000, 16000), (192000, 48000)],
)
def test_resampled_sine_keeps_frequency_and_amplitude(rate: int, target: int) -> None:
    wave = sine(1000.0, 0.5, rate, amplitude=0.5)
    out = resample(wave, rate, target)

    assert out.dtype == np.float32
    assert abs(len(out) - round(len(wave) * target / rate)) <= 1
    np.testing.assert_allclose(out, soxr.resample(wave, rate, target, quality="VHQ"), rtol=0, atol=1e-7)
    # Away from the edges the output is the same sine sampled at the new rate (soxr is linear phase).
    reference = sine(1000.0, 0.5, target, amplitude=0.5)[: len(out)]
    middle = slice(target // 20, -target // 20)
    assert np.abs(out[middle] - reference[middle]).max() < 1e-4
    assert dominant_frequency(out, target) == pytest.approx(1000.0, rel=1e-4)


def test_resample_keeps_channels_apart() -> None:
    wave = np.stack([sine(500.0, 0.25, 48000), sine(3000.0, 0.25, 48000)])
    out = resample(wave, 48000, 16000)
    assert out.shape == (2, 4000) and out.flags.c_contiguous
    assert dominant_frequency(out[0], 16000) == pytest.approx(500.0, rel=1e-3)
    assert dominant_frequency(out[1], 16000) == pytest.approx(3000.0, rel=1e-3)
    np.testing.assert_array_equal(resample(wave, 48000, 48000), wave)


@pytest.mark.parametrize(
    ("rate", "channels"), [(8000, 1), (11025, 2), (44100, 6), (48000, 2), (96000, 1), (16000, 2)]
)
def test_streaming_load_mono_equals_whole_file_pipeline(tmp_path: Path, rate: int, channels: int) -> None:
    data = noise(int(rate * 1.3), seed=rate, amplitude=0.3, channels=channels).T
    path = write(tmp_path / "s.wav", data, rate, "FLOAT")
    wave, sample_rate = load_audio(path)
    whole = resample(to_mono(wave), sample_rate, 16000)
    for block_seconds in (0.05, 0.3, 30.0):  # many blocks, a few blocks, one block
        streamed = load_mono(path, 16000, block_seconds=block_seconds)
        assert streamed.dtype == np.float32 and streamed.shape == whole.shape
        np.testing.assert_allclose(streamed, whole, rtol=0, atol=1e-6)


def test_six_channel_96k_24_bit_file(tmp_path: Path) -> None:
    """A 6-channel 96 kHz 24-bit file decodes exactly and downmixes + resamples correctly."""
    data, expected = exact_pcm("PCM_24", 96000, 6, seed=6)
    data[:, 2] = (sine(440.0, 1.0, 96000, amplitude=0.6) * 2**31).astype(np.int32) // 256 * 256
    expected[2] = data[:, 2] / 2**31
    path = write(tmp_path / "surround.wav", data, 96000, "PCM_24")
    wave, rate = load_audio(path)
    assert rate == 96000
    np.testing.assert_array_equal(wave, expected)
    mono = load_mono(path, 16000)
    reference = soxr.resample(expected.astype(np.float64).mean(axis=0), 96000, 16000, quality="VHQ")
    assert mono.shape == (16000,)
    np.testing.assert_allclose(mono, reference, rtol=0, atol=1e-6)


# ----- bad inputs -----------------------------------------------------------------------------------


def _load_mono_16k(path: Path) -> np.ndarray:
    return load_mono(path, 16000)


LOADERS: dict[str, Callable[[Path], object]] = {"load_audio": load_audio, "load_mono": _load_mono_16k}


def _empty(tmp: Path) -> Path:
    path = tmp / "empty.wav"
    path.write_bytes(b"")
    return path


def _text_as_wav(tmp: Path) -> Path:
    path = tmp / "notes.wav"
    path.write_text("this is a text file, not audio\n" * 20)
    return path


def _flac_bytes(tmp: Path) -> bytes:
    path = write(tmp / "good.flac", noise(48000, amplitude=0.3), 16000, "PCM_16")
    return path.read_bytes()


def _truncated_flac(tmp: Path) -> Path:
    path = tmp / "truncated.flac"
    data = _flac_bytes(tmp)
    path.write_bytes(data[: len(data) // 2])
    return path


def _corrupt_flac(tmp: Path) -> Path:
    data = bytearray(_flac_bytes(tmp))
    data[2000:6000] = bytes(4000)  # zero a stretch of frames in the middle
    path = tmp / "corrupt.flac"
    path.write_bytes(bytes(data))
    return path


def _nan_wav(tmp: Path) -> Path:
    wave = noise(8000)
    wave[1234] = np.nan
    return write(tmp / "nan.wav", wave, 16000, "FLOAT")


def _inf_wav(tmp: Path) -> Path:
    wave = noise(8000)
    wave[10] = np.inf
    return write(tmp / "inf.wav", wave, 16000, "FLOAT")


def _directory(tmp: Path) -> Path:
    path = tmp / "folder.wav"
    path.mkdir()
    return path


def _missing(tmp: Path) -> Path:
    return tmp / "missing.wav"


def _rate_4k(tmp: Path) -> Path:
    return write(tmp / "low.wav", noise(4000), 4000, "PCM_16")


def _rate_384k(tmp: Path) -> Path:
    return write(tmp / "high.wav", noise(3840), 384000, "PCM_16")


def _no_frames(tmp: Path) -> Path:
    return write(tmp / "noframes.wav", np.zeros(0, np.float32), 16000, "PCM_16")


BAD_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "0-byte file": (_empty, r"file is empty \(0 bytes\)"),
    "text file named .wav": (_text_as_wav, r"cannot decode audio \(.*Format not recognised\.\)"),
    "truncated FLAC": (_truncated_flac, r"cannot decode audio \(.*\)"),
    "corrupt FLAC": (_corrupt_flac, r"cannot decode audio \(.*\)"),
    "NaN samples": (_nan_wav, r"audio holds (1 )?non-finite samples \(NaN or Inf\)"),
    "Inf samples": (_inf_wav, r"audio holds (1 )?non-finite samples \(NaN or Inf\)"),
    "directory": (_directory, r"is a directory, not an audio file"),
    "missing path": (_missing, r"file not found"),
    "4 kHz": (_rate_4k, rf"sample rate 4000 Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"),
    "384 kHz": (_rate_384k, rf"sample rate 384000 Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"),
    "no frames": (_no_frames, r"audio has no samples"),
}


@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_error_names_file_and_problem(tmp_path: Path, case: str, loader: str) -> None:
    make, problem = BAD_FILES[case]
    path = make(tmp_path)
    with pytest.raises(AudioError) as info:
        LOADERS[loader](path)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.source == str(path)
    assert re.fullmatch(re.escape(str(path)) + ": " + problem, str(err)), str(err)


def test_one_sample_file(tmp_path: Path) -> None:
    """Decision: a 1-sample file at the model's rate is valid (fit_length then pads it); one that leaves
    no sample after resampling is an AudioError that says so."""
    path = write(tmp_path / "one.wav", np.array([0.25], np.float32), 16000, "FLOAT")
    wave, rate = load_audio(path)
    assert rate == 16000 and wave.shape == (1, 1) and wave[0, 0] == np.float32(0.25)
    np.testing.assert_array_equal(load_mono(path, 16000), np.array([0.25], np.float32))

    path44 = write(tmp_path / "one44.wav", np.array([0.25], np.float32), 44100, "FLOAT")
    with pytest.raises(
        AudioError, match=re.escape(f"{path44}: audio is too short to resample from 44100 Hz")
    ):
        load_mono(path44, 16000)


# ----- in-memory arrays -------------------------------------------------------------------------------


def test_prepare_array_downmixes_and_resamples() -> None:
    stereo = np.stack([sine(1000.0, 0.5, 48000), sine(1000.0, 0.5, 48000, amplitude=0.1)])
    out = prepare_array(stereo, 48000, 16000)
    expected = soxr.resample(stereo.mean(axis=0), 48000, 16000, quality="VHQ")
    assert out.dtype == np.float32 and out.shape == (8000,)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("wave", "rate", "problem"),
    [
        (np.array([0.1, np.nan, 0.2], np.float32), 16000, "non-finite"),
        (np.zeros(0, np.float32), 16000, "no samples"),
        (np.zeros((2, 0), np.float32), 16000, "no samples"),
        (np.zeros((1, 2, 100), np.float32), 16000, "expected a [N] or [channels, N] array"),
        (np.zeros(100, np.float32), 4000, "sample rate 4000 Hz is outside"),
        (np.zeros(1, np.float32), 44100, "too short to resample"),
    ],
)
def test_prepare_array_errors_name_the_array(wave: np.ndarray, rate: int, problem: str) -> None:
    with pytest.raises(AudioError, match=r"^clip-7: .*" + re.escape(problem)):
        prepare_array(wave, rate, 16000, source="clip-7")


@pytest.mark.parametrize(
    ("dtype", "scale", "offset"),
    [(np.int16, 32768, 0), (np.int32, 2**31, 0), (np.int8, 128, 0), (np.uint8, 128, 128)],
)
def test_prepare_array_scales_integer_pcm(dtype: type, scale: int, offset: int) -> None:
    info = np.iinfo(dtype)
    ints = np.array([info.min, info.max, offset, offset + 1, offset - 1], dtype=dtype)
    out = prepare_array(ints, 16000, 16000)
    np.testing.assert_array_equal(out, ((ints.astype(np.float64) - offset) / scale).astype(np.float32))


def test_prepare_array_refuses_samples_by_channels_layout() -> None:
    wave = noise(1000, channels=2).T  # [N, 2], as soundfile.read returns
    with pytest.raises(
        AudioError, match=r"^<array>: array of shape \(1000, 2\) has more channels than samples"
    ):
        prepare_array(wave, 16000, 16000)
    assert prepare_array(wave.T, 16000, 16000).shape == (1000,)


def test_load_mono_peak_memory_is_about_one_copy_of_the_signal(tmp_path: Path) -> None:
    import tracemalloc

    rate, seconds = 16000, 240  # 240 s mono: 15.4 MB as float32, read in 30 s blocks
    path = write(tmp_path / "long.flac", noise(rate * seconds, seed=3, amplitude=0.3), rate, "PCM_16")
    signal_bytes = rate * seconds * 4
    tracemalloc.start()
    wave = load_mono(path, rate)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert wave.shape == (rate * seconds,) and wave.dtype == np.float32
    assert peak < 1.4 * signal_bytes, f"peak {peak / 1e6:.1f} MB for a {signal_bytes / 1e6:.1f} MB signal"


def test_load_mono_buffer_grows_when_a_decoder_under_reports_its_length() -> None:
    from openclap.audio.io import _GrowingBuffer

    buffer = _GrowingBuffer(3)
    blocks = [np.arange(i * 5, i * 5 + 5, dtype=np.float32) for i in range(4)]
    for block in blocks:
        buffer.append(block)
    np.testing.assert_array_equal(buffer.result(), np.concatenate(blocks))


def test_audio_seconds_reads_the_header(tmp_path: Path) -> None:
    path = write(tmp_path / "a.flac", sine(440.0, 1.25, 16000), 16000, "PCM_16")
    assert audio_seconds(path) == pytest.approx(1.25)
    (tmp_path / "bad.wav").write_bytes(b"not audio" * 20)
    assert audio_seconds(tmp_path / "bad.wav") is None
    assert audio_seconds(tmp_path / "missing.wav") is None


def test_peak_level_and_silence_warning() -> None:
    assert peak_dbfs(np.zeros(100, np.float32)) == float("-inf")
    assert peak_dbfs(np.array([0.0, -0.5, 0.25], np.float32)) == pytest.approx(-6.0206, abs=1e-4)
    assert peak_dbfs(np.array([1e-3], np.float32)) == pytest.approx(-60.0, abs=1e-4)
    zeros = silence_warning(np.zeros(100, np.float32))
    assert zeros is not None and "all samples are zero" in zeros
    hum = silence_warning(np.full(100, 1e-4, np.float32))  # -80 dBFS: silent
    assert hum is not None and "peak -80.0 dBFS" in hum
    assert silence_warning(np.full(100, 2e-3, np.float32)) is None  # -54 dBFS: quiet, not silent
    assert silence_warning(sine(440.0, 0.1, 16000)) is None


def test_reused_resampler_gives_a_fresh_streams_output(tmp_path: Path) -> None:
    """Each thread keeps one soxr stream per rate pair and clears it per file: a file loaded after
    others (one of them failing half-way, its stream left mid-signal) equals the same file loaded by a
    new thread, whose stream is new."""
    first = write(tmp_path / "a.wav", noise(44100, seed=1, amplitude=0.3), 44100, "FLOAT")
    broken = noise(3 * 44100, seed=2, amplitude=0.3)
    broken[2 * 44100] = np.nan  # found in the third 0.5 s block, after two were resampled
    bad = write(tmp_path / "bad.wav", broken, 44100, "FLOAT")
    last = write(tmp_path / "b.wav", noise(2 * 44100 + 17, seed=3, amplitude=0.3), 44100, "FLOAT")
    load_mono(first, 16000)
    with pytest.raises(AudioError, match="non-finite"):
        load_mono(bad, 16000, block_seconds=0.5)
    reused = load_mono(last, 16000)
    fresh: list[np.ndarray] = []
    thread = threading.Thread(target=lambda: fresh.append(load_mono(last, 16000)))
    thread.start()
    thread.join()
    np.testing.assert_array_equal(reused, fresh[0])
    np.testing.assert_array_equal(
        reused, soxr.resample(sf.read(last, dtype="float32")[0], 44100, 16000, "VHQ")
    )
