"""Shared helpers for the core tests: deterministic test signals and exact PCM writing."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import soundfile as sf
import torch

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "default_model"
ESC50_AUDIO = Path(__file__).resolve().parents[2] / "shared" / "data" / "esc50-fold4" / "audio"
ESC50_CLIP = ESC50_AUDIO / "4-102844-A-49.flac"  # a real clip without digital silence (frontend checks)

# Bits of each integer subtype, and the container formats the tests write with each subtype.
PCM_BITS = {"PCM_U8": 8, "PCM_S8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}
LOSSLESS = {
    "WAV": ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"),
    "FLAC": ("PCM_S8", "PCM_16", "PCM_24"),
    "AIFF": ("PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"),
}
EXTENSIONS = {"WAV": ".wav", "FLAC": ".flac", "AIFF": ".aiff", "OGG": ".ogg", "MP3": ".mp3"}
RATES = (8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000)


def sine(freq: float, seconds: float, sample_rate: int, amplitude: float = 0.5) -> np.ndarray:
    """float32 [N] sine."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(n: int, seed: int = 0, amplitude: float = 0.1, channels: int | None = None) -> np.ndarray:
    """float32 Gaussian noise, [N] or [channels, N]."""
    shape = (n,) if channels is None else (channels, n)
    return (amplitude * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def exact_pcm(subtype: str, n: int, channels: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Integer samples that survive ``subtype`` exactly: ``(array to write [N, C], expected float32 [C, N])``.

    libsndfile maps integer input onto the file's bit depth by shifting (int16 -> 8 bit keeps the top byte,
    int32 -> 24 bit keeps the top 3 bytes) and decodes a b-bit sample s as s / 2**(b-1), so multiples of
    the shift round-trip bit-exactly. Each channel gets its own ramp of amplitudes, so a channel mix-up
    shows.
    """
    rng = np.random.default_rng(seed)
    bits = PCM_BITS[subtype]
    container, container_bits = (np.int16, 16) if bits <= 16 else (np.int32, 32)
    step = 2 ** (container_bits - bits)
    top = 2 ** (bits - 1)
    ints = rng.integers(-top, top, size=(n, channels)) // (np.arange(channels) + 1)
    ints[0] = -top  # the extremes must decode exactly too
    ints[1] = top - 1
    data = (ints * step).astype(container)
    expected = (data.astype(np.float64) / 2 ** (container_bits - 1)).astype(np.float32).T
    return data, np.ascontiguousarray(expected)


def write(path: Path, data: np.ndarray, sample_rate: int, subtype: str | None = None) -> Path:
    """``sf.write`` (format from the suffix); ``data`` is [N] or [N, C] as soundfile expects."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, sample_rate, subtype=subtype)
    return path


def dominant_frequency(wave: np.ndarray, sample_rate: int) -> float:
    """Frequency (Hz) of the largest bin of a Hann-windowed spectrum, refined by parabolic interpolation."""
    spec = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    k = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-30)
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + offset) * sample_rate / len(wave)


def run_script(main: Callable[[], object]) -> None:
    """Call a recipe script's ``main()`` in the test process, torch's thread count put back after: a
    script sets it for its own process (``--threads``), and the suite's later tests depend on it."""
    threads = torch.get_num_threads()
    try:
        main()
    finally:
        torch.set_num_threads(threads)


def load_recipe(script: str) -> ModuleType:
    """Import ``recipes/default_model/<script>.py`` (a script folder, not a package) as ``recipe_<script>``.

    The folder goes on ``sys.path`` first, since prepare_data.py imports its sibling captions.py.
    """
    if str(RECIPE) not in sys.path:
        sys.path.insert(0, str(RECIPE))
    spec = importlib.util.spec_from_file_location(f"recipe_{script}", RECIPE / f"{script}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def yamnet_fixture_classes(captions: ModuleType) -> list:
    """YAMNet's 521 classes from the fixture class map and AudioSet ontology subset (``yamnet_captions``)."""
    ontology = captions.load_ontology(FIXTURES / "audioset_ontology_subset.json")
    return captions.load_classes(FIXTURES / "yamnet_class_map.csv", ontology)


def yamnet_fixture_scores() -> list[np.ndarray]:
    """TensorFlow YAMNet's clip-mean scores [521] of the three real clips in ``yamnet_tf.npz``."""
    with np.load(FIXTURES / "yamnet_tf.npz") as z:
        return [z[f"{i}/scores"].mean(axis=0) for i in range(3)]


def package_calls(package: Path, shim: str) -> bool:
    """Whether a compiled audio package's C++ code calls the C function ``shim`` (an ``openclap.kernels``
    op called directly, not through AOTInductor's proxy executor)."""
    with zipfile.ZipFile(package) as archive:
        return any(shim.encode() in archive.read(n) for n in archive.namelist() if n.endswith(".cpp"))
