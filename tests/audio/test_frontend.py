"""The torch log-mel front end against librosa (a test-only oracle): filterbank, STFT power and dB values.

Precision notes, measured when these tests were written:

- The filterbank is computed in float64 exactly as librosa does (equal to ~1e-16).
- With a float64 STFT (``stft_dtype="float64"``) every bin above the ``amin`` floor matches librosa run in
  float64 within a few 1e-6 dB (the float32 rounding of the output).
- With a float32 STFT the rounding error is about 1e-7 of a frame's energy, so a mel bin far below the
  loudest bin of its frame carries a relative error that grows with that distance: bins within 40 dB of
  their frame's peak match within 1e-4 dB; bins 60-90 dB down differ by up to ~1e-2 dB (over the 400
  clips of ESC-50 fold 4 the largest difference of any bin above the floor was 0.05 dB, and half of the
  clips had some bin off by more than 1e-4 dB). Bins at the floor are ill-conditioned in any precision,
  so synthetic signals carry a 1e-2 noise floor.
- librosa >= 0.10 pads the tail frames from a slice of the signal; when that slice is no longer than
  ``n_fft // 2`` numpy's reflect padding wraps and librosa's last frame differs slightly from a true
  reflect-padded STFT. ``_librosa_safe_length`` trims test signals so librosa takes the exact path, and
  ``test_last_frame_matches_textbook_stft`` checks our last frame against a numpy STFT instead.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from openclap.audio.frontend import LogMel, hz_to_mel, mel_filterbank, mel_to_hz
from openclap.config import AudioFrontendConfig
from openclap.registry import get_config
from tests.helpers import ESC50_CLIP

librosa = pytest.importorskip("librosa")

SMALL = get_config("openclap-small").audio
CNN14 = get_config("cnn14-minilm").audio
HTK_NO_NORM = AudioFrontendConfig(
    sample_rate=22050,
    n_fft=1024,
    win_length=800,
    hop_length=256,
    n_mels=40,
    f_min=0.0,
    f_max=None,
    mel_scale="htk",
    mel_norm=None,
)
FILTERBANK_32K = AudioFrontendConfig(  # msclap-2023: filters built for 32 kHz, applied to 44.1 kHz audio
    sample_rate=44100,
    n_fft=1024,
    hop_length=320,
    n_mels=64,
    f_min=50.0,
    f_max=14000.0,
    filterbank_sample_rate=32000,
)
CONFIGS = {
    "openclap-small": SMALL,
    "cnn14-minilm": CNN14,
    "htk-no-norm": HTK_NO_NORM,
    "fb-32k": FILTERBANK_32K,
}
# Front ends without an ``stft_dtype`` setting compute in float32.
HAS_STFT_DTYPE = "stft_dtype" in {f.name for f in dataclasses.fields(AudioFrontendConfig)}
PRECISIONS = ("float64", "float32") if HAS_STFT_DTYPE else ("float32",)


def _with_precision(cfg: AudioFrontendConfig, precision: str) -> AudioFrontendConfig:
    return dataclasses.replace(cfg, stft_dtype=precision) if HAS_STFT_DTYPE else cfg


def _librosa_mel_basis(cfg: AudioFrontendConfig) -> np.ndarray:
    return librosa.filters.mel(
        sr=cfg.filterbank_sample_rate or cfg.sample_rate,
        n_fft=cfg.n_fft,
        n_mels=cfg.n_mels,
        fmin=cfg.f_min,
        fmax=cfg.f_max,
        htk=cfg.mel_scale == "htk",
        norm="slaney" if cfg.mel_norm else None,
        dtype=np.float64,
    )


def _librosa_power(cfg: AudioFrontendConfig, wave: np.ndarray) -> np.ndarray:
    spec = librosa.stft(
        wave.astype(np.float64),
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window="hann",
        center=True,
        pad_mode="reflect",
    )
    return np.abs(spec) ** 2


def _librosa_log_mel(cfg: AudioFrontendConfig, wave: np.ndarray) -> np.ndarray:
    """librosa.feature.melspectrogram + 10 log10(max(x, 1e-10)); a filterbank for another rate (fb-32k)
    is librosa.filters.mel(sr=32000) applied to the STFT power, as msclap does."""
    if cfg.filterbank_sample_rate is None:
        mel = librosa.feature.melspectrogram(
            y=wave.astype(np.float64),
            sr=cfg.sample_rate,
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            win_length=cfg.win_length,
            window="hann",
            center=True,
            pad_mode="reflect",
            power=2.0,
            n_mels=cfg.n_mels,
            fmin=cfg.f_min,
            fmax=cfg.f_max,
            htk=cfg.mel_scale == "htk",
            norm="slaney" if cfg.mel_norm else None,
        )
    else:
        mel = _librosa_mel_basis(cfg) @ _librosa_power(cfg, wave)
    return 10.0 * np.log10(np.maximum(mel, 1e-10))


def _librosa_safe_length(n: int, n_fft: int, hop: int) -> int:
    """Largest length <= n for which librosa's tail padding is an exact reflect pad (see module doc)."""
    while True:
        tail_k = (n + n_fft // 2 - n_fft) // hop + 1
        if n - (tail_k * hop - n_fft // 2) > n_fft // 2:
            return n
        n -= 1


def _ours(cfg: AudioFrontendConfig, wave: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = LogMel(cfg)(torch.from_numpy(wave)[None])
    assert out.dtype == torch.float32
    return out[0].double().numpy()


def _synthetic(sample_rate: int, seconds: float = 2.0, floor: float = 1e-2) -> np.ndarray:
    """A chirp, a gated tone and a white-noise floor (keeps bins off the amin clamp)."""
    t = np.arange(round(sample_rate * seconds)) / sample_rate
    rng = np.random.default_rng(1)
    wave = 0.3 * np.sin(2 * np.pi * (200 + 2000 * t) * t) + 0.1 * np.sin(2 * np.pi * 3000 * t) * (t > 0.5)
    return (wave + floor * rng.standard_normal(t.size)).astype(np.float32)


def _real(sample_rate: int) -> np.ndarray:
    if not ESC50_CLIP.is_file():
        pytest.skip(f"real-audio check needs {ESC50_CLIP} (../shared/data/esc50-fold4); not present")
    wave, rate = sf.read(str(ESC50_CLIP), dtype="float32")
    return soxr.resample(wave, rate, sample_rate, quality="VHQ").astype(np.float32)


@pytest.mark.parametrize(
    ("sample_rate", "n_fft", "n_mels", "f_min", "f_max", "scale", "norm"),
    [
        (16000, 512, 64, 50.0, 8000.0, "slaney", "slaney"),
        (44100, 1024, 64, 50.0, 14000.0, "slaney", "slaney"),
        (32000, 1024, 64, 50.0, 14000.0, "slaney", "slaney"),
        (48000, 1024, 64, 50.0, 14000.0, "htk", None),
        (22050, 2048, 128, 0.0, None, "slaney", None),
        (8000, 256, 40, 20.0, 4000.0, "htk", "slaney"),
    ],
)
def test_filterbank_equals_librosa(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float | None, scale: str, norm: str | None
) -> None:
    ours = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max, scale, norm)  # [n_freqs, n_mels]
    ref = librosa.filters.mel(
        sr=sample_rate,
        n_fft=n_fft,
        n_mels=n_mels,
        fmin=f_min,
        fmax=f_max,
        htk=scale == "htk",
        norm=norm,
        dtype=np.float64,
    )
    assert ours.shape == (n_fft // 2 + 1, n_mels)
    np.testing.assert_allclose(ours, ref.T, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("scale", ["slaney", "htk"])
def test_mel_scale_conversions_equal_librosa(scale: str) -> None:
    freqs = np.array([0.0, 20.0, 500.0, 999.0, 1000.0, 1001.0, 4000.0, 22050.0, 96000.0])
    mels = hz_to_mel(freqs, scale)
    np.testing.assert_allclose(mels, librosa.hz_to_mel(freqs, htk=scale == "htk"), rtol=1e-13)
    np.testing.assert_allclose(mel_to_hz(mels, scale), freqs, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_power_spectrogram_equals_librosa_stft(config: str, precision: str) -> None:
    cfg = _with_precision(CONFIGS[config], precision)
    wave = _synthetic(cfg.sample_rate, 1.0)
    wave = wave[: _librosa_safe_length(len(wave), cfg.n_fft, cfg.hop_length)]
    with torch.no_grad():
        ours = LogMel(cfg).power_spectrogram(torch.from_numpy(wave)[None])[0].double().numpy()
    ref = _librosa_power(cfg, wave)
    assert ours.shape == ref.shape == (cfg.n_fft // 2 + 1, len(wave) // cfg.hop_length + 1)
    # relative to the frame's energy: float32 FFT rounding is ~1e-7, float64's ~1e-16
    tolerance = 1e-12 if precision == "float64" else 2e-6
    assert (np.abs(ours - ref) / ref.max(axis=0)).max() < tolerance


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("signal", ["real", "synthetic"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_log_mel_equals_librosa(config: str, signal: str, precision: str) -> None:
    cfg = _with_precision(CONFIGS[config], precision)
    wave = _real(cfg.sample_rate) if signal == "real" else _synthetic(cfg.sample_rate)
    wave = wave[: _librosa_safe_length(len(wave), cfg.n_fft, cfg.hop_length)]

    ours = _ours(cfg, wave)
    ref = _librosa_log_mel(cfg, wave)

    assert ours.shape == ref.shape == (cfg.n_mels, len(wave) // cfg.hop_length + 1)
    error = np.abs(ours - ref)
    assert ref.min() > -99.0  # no bin sits at the amin floor, so every bin is checked below
    if precision == "float64":
        assert error.max() < 1e-4, f"max error {error.max():.2e} dB"
        return
    below_peak = ref.max(axis=0, keepdims=True) - ref  # dB below the loudest mel bin of the frame
    well_conditioned = below_peak < 40.0
    assert well_conditioned.mean() > 0.05  # real audio: 95-99 % of the bins; the tonal synthetic: 10-35 %
    assert error[well_conditioned].max() < 1e-4, f"max error {error[well_conditioned].max():.2e} dB"
    assert error.max() < 2e-2  # float32 STFT rounding in quiet bins (see module doc)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_last_frame_matches_textbook_stft(precision: str) -> None:
    """A length where librosa's tail shortcut wraps: compare the reflect-padded frames with numpy."""
    cfg = _with_precision(SMALL, precision)
    wave = _synthetic(cfg.sample_rate, 1.0)  # 16000 samples: a multiple of the hop
    assert _librosa_safe_length(len(wave), cfg.n_fft, cfg.hop_length) < len(wave)
    padded = np.pad(wave.astype(np.float64), cfg.n_fft // 2, mode="reflect")
    window = np.hanning(cfg.n_fft + 1)[:-1]  # periodic Hann
    frames = len(wave) // cfg.hop_length + 1
    power = np.stack(
        [
            np.abs(np.fft.rfft(padded[t * cfg.hop_length : t * cfg.hop_length + cfg.n_fft] * window)) ** 2
            for t in range(frames)
        ],
        axis=1,
    )
    ref = 10 * np.log10(np.maximum(_librosa_mel_basis(cfg) @ power, 1e-10))
    error = np.abs(_ours(cfg, wave) - ref)
    below_peak = ref.max(axis=0, keepdims=True) - ref
    assert error[below_peak < 40].max() < 1e-4
    assert error[:, -1].max() < (1e-4 if precision == "float64" else 1e-2)


def test_silence_sits_at_the_amin_floor_and_top_db_clips_per_item() -> None:
    wave = torch.zeros(2, 4000)
    wave[1] = torch.from_numpy(_synthetic(16000, 0.25))
    out = LogMel(SMALL)(wave)
    assert torch.all(out[0] == -100.0)
    clipped = LogMel(AudioFrontendConfig(**{**SMALL.__dict__, "top_db": 30.0}))(wave)
    for i in range(2):
        assert clipped[i].min() >= clipped[i].max() - 30.0 - 1e-4
        assert torch.equal(clipped[i].max(), out[i].max())
    assert torch.all(clipped[0] == out[0])  # silence: nothing below max - top_db


def test_each_item_is_independent_of_its_batch() -> None:
    waves = torch.from_numpy(np.stack([_synthetic(16000, 0.5), _synthetic(16000, 0.5)[::-1].copy()]))
    frontend = LogMel(SMALL)
    batch = frontend(waves)
    assert batch.shape == (2, SMALL.n_mels, 8000 // SMALL.hop_length + 1)
    for i in range(2):
        torch.testing.assert_close(frontend(waves[i : i + 1])[0], batch[i], rtol=0, atol=1e-5)


def test_front_end_has_no_checkpoint_state() -> None:
    frontend = LogMel(CNN14)
    assert frontend.state_dict() == {}
    assert not list(frontend.parameters())
    assert frontend.mel_fb.shape == (CNN14.n_fft // 2 + 1, CNN14.n_mels)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_long_inputs_in_pieces_equal_one_stft(config: str, precision: str) -> None:
    """The piecewise mel power of a long input (a fusion model takes whole files) is the one-STFT result."""
    cfg = _with_precision(CONFIGS[config], precision)
    wave = torch.from_numpy(_synthetic(cfg.sample_rate, 1.3))
    whole = LogMel(cfg)
    pieces = LogMel(cfg)
    for max_frames in (7, 13, 50):  # odd sizes: pieces end anywhere, the last one can be a single frame
        pieces.max_frames = max_frames
        for length in (wave.shape[0], wave.shape[0] - 1, wave.shape[0] - cfg.hop_length // 3):
            batch = torch.stack([wave[:length], 0.5 * wave[:length].flip(0)])
            with torch.no_grad():
                expected, got = whole(batch), pieces(batch)
            assert got.shape == expected.shape
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)


def test_pieces_when_half_the_window_is_whole_hops() -> None:
    """n_fft / 2 a multiple of the hop and a last piece of one frame: the piece still outlasts its padding."""
    cfg = dataclasses.replace(SMALL, n_fft=512, hop_length=128)
    wave = torch.from_numpy(_synthetic(cfg.sample_rate, 1.0))[: 128 * 100]  # 101 frames
    pieces = LogMel(cfg)
    pieces.max_frames = 50  # pieces of 50, 50 and 1 frames
    with torch.no_grad():
        torch.testing.assert_close(pieces(wave[None]), LogMel(cfg)(wave[None]), rtol=0, atol=1e-4)
