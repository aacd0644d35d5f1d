"""Log-mel front end in torch (no torchaudio): STFT power -> mel filterbank -> dB.

Matches ``librosa.feature.melspectrogram(center=True, pad_mode="reflect", power=2, htk=False,
norm="slaney")`` followed by ``10 * log10(max(x, amin))``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from openclap import kernels
from openclap.config import AudioFrontendConfig


def hz_to_mel(freq: np.ndarray, scale: str = "slaney") -> np.ndarray:
    freq = np.asarray(freq, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + freq / 700.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    mels = freq / f_sp
    log_region = freq >= min_log_hz
    mels[log_region] = min_log_mel + np.log(freq[log_region] / min_log_hz) / logstep
    return mels


def mel_to_hz(mels: np.ndarray, scale: str = "slaney") -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    freqs = f_sp * mels
    log_region = mels >= min_log_mel
    freqs[log_region] = min_log_hz * np.exp(logstep * (mels[log_region] - min_log_mel))
    return freqs


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    scale: str = "slaney",
    norm: str | None = "slaney",
) -> np.ndarray:
    """Triangular mel filters [n_freqs, n_mels] (float64), as librosa.filters.mel(...).T."""
    f_max = sample_rate / 2 if f_max is None else f_max
    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_points = mel_to_hz(
        np.linspace(
            hz_to_mel(np.array([f_min]), scale)[0], hz_to_mel(np.array([f_max]), scale)[0], n_mels + 2
        ),
        scale,
    )
    fdiff = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))  # [n_mels, n_freqs]
    if norm == "slaney":
        weights *= (2.0 / (mel_points[2 : n_mels + 2] - mel_points[:n_mels]))[:, None]
    return weights.T


class LogMel(nn.Module):
    """[B, N] waveform -> [B, n_mels, frames] log-mel in dB. Holds no trainable state.

    ``reduced_precision`` (set by ``ClapModel.set_precision`` for bf16 inference): the STFT runs in
    float32 even where ``stft_dtype`` is float64 (the mel product always does). float32's rounding
    (~1e-2 dB in weak bins) is far below what the bf16 encoder keeps, and the float64 STFT was 16-19 % of
    an HTS-AT tower's bf16 time.
    """

    reduced_precision: bool = False
    #: compiled packages compute the mel power with ``openclap.kernels``' one-pass spectrogram
    native_kernels: ClassVar[bool] = True

    def __init__(self, config: AudioFrontendConfig) -> None:
        super().__init__()
        self.config = config
        win_length = config.win_length or config.n_fft
        fb_rate = config.filterbank_sample_rate or config.sample_rate
        fb = mel_filterbank(
            fb_rate,
            config.n_fft,
            config.n_mels,
            config.f_min,
            config.f_max,
            config.mel_scale,
            config.mel_norm,
        )
        # Non-persistent: rebuilt from the config, so checkpoints never need to carry them. The STFT
        # runs in ``config.stft_dtype``: float64 is exact at float32 output precision; in float32 the
        # rounding of the window and the FFT around loud bins leaks into weak bins (~1e-2 dB), which is
        # what float32 references (torchaudio) computed. The filterbank is kept in that precision (the
        # ONNX front end multiplies in it); ``_mel_power`` multiplies in float32.
        dtype = torch.float64 if config.stft_dtype == "float64" else torch.float32
        window = torch.hann_window(win_length, periodic=True, dtype=dtype)
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("mel_fb", torch.from_numpy(fb).to(dtype), persistent=False)

    def _compute_dtype(self, wave: torch.Tensor) -> torch.dtype:
        if wave.device.type == "mps" or self.reduced_precision:  # MPS has no float64
            return torch.float32
        return torch.float64 if self.config.stft_dtype == "float64" else torch.float32

    def power_spectrogram(self, wave: torch.Tensor) -> torch.Tensor:
        """[B, N] -> [B, n_freqs, frames] STFT power (centred, reflect padding) in ``stft_dtype``: a
        transposed view of ``power_frames``."""
        return self.power_frames(wave).transpose(1, 2)

    def power_frames(self, wave: torch.Tensor) -> torch.Tensor:
        """[B, N] -> [B, frames, n_freqs] STFT power, contiguous. ``torch.stft`` returns a transposed
        view of the FFT's [B, frames, n_freqs] output; the power is taken in the FFT's own layout, so a
        compiled front end reads and writes it in order (in the [B, n_freqs, frames] view inductor wrote
        it strided and copied it back for the mel product: msclap-2023's compiled front end 2.96 -> 1.09
        ms per clip in float32, 4.44 -> 3.04 in float64, the same values; docs/speed.md)."""
        cfg = self.config
        dtype = self._compute_dtype(wave)
        spec = torch.stft(
            wave.to(dtype),
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            win_length=cfg.win_length or cfg.n_fft,
            window=self.window.to(dtype),
            center=True,
            pad_mode="reflect",
            return_complex=True,
        ).transpose(1, 2)
        return spec.real.square() + spec.imag.square()

    #: Longer inputs get their mel power in pieces of this many frames (a fusion model takes a whole
    #: file): memory stays bounded, and every frame is computed from exactly the same samples.
    max_frames: int = 8192

    def mel_power(self, wave: torch.Tensor) -> torch.Tensor:
        """[B, N] -> [B, n_mels, frames] mel power (float32; from an STFT in ``stft_dtype``), in pieces of
        ``max_frames`` frames.

        A piece is the STFT of the samples its frames need plus a margin of whole hops on each side; the
        margin frames (touched by the piece's own reflect padding) are dropped, so the result equals one
        STFT of the whole input. Pieces that reach the input's ends get its true reflect padding.
        """
        hop, total = self.config.hop_length, wave.shape[-1] // self.config.hop_length + 1
        if total <= self.max_frames:
            return self._mel_power(wave)
        # frames whose window reaches past a piece's edge, plus one: a piece stays longer than the padding
        margin = self.config.n_fft // 2 // hop + 1
        parts = []
        for first in range(0, total, self.max_frames):
            last = min(first + self.max_frames, total)
            low = max(0, first - margin) * hop
            high = min(wave.shape[-1], (last - 1 + margin) * hop + 1)
            offset = first - low // hop
            parts.append(self._mel_power(wave[..., low:high])[..., offset : offset + last - first])
        return torch.cat(parts, dim=-1)

    def _mel_power(self, wave: torch.Tensor) -> torch.Tensor:
        dtype = self._compute_dtype(wave)
        if kernels.fusing() and kernels.spectrogram_fits(self.config.n_fft, dtype, wave.device):
            return self._native_mel_power(wave.to(dtype))
        power = self.power_frames(wave)  # [B, T, F], contiguous
        # The mel product in float32 whatever the STFT's precision: it sums positive powers (nothing
        # cancels), so float32 moves the dB values by at most one float32 step of the output (1.9e-6 dB
        # against a float64 product), while float64's cancellation-free STFT is what stays exact.
        # Compiled msclap-2023 front end 3.25 -> 2.08 ms per clip (docs/speed.md).
        return torch.matmul(power.float(), self.mel_fb.float()).transpose(1, 2)  # [B, M, T]

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        mel = self.mel_power(wave)
        db = 10.0 * torch.log10(torch.clamp(mel, min=self.config.amin))
        if self.config.top_db is not None:
            db = torch.maximum(db, db.amax(dim=(1, 2), keepdim=True) - self.config.top_db)
        return db.float()

    def _native_mel_power(self, wave: torch.Tensor) -> torch.Tensor:
        """``_mel_power`` as one native pass (``openclap.kernels``' ``frame_rfft_mel``, tracing a compiled
        package): the same centred frames (reflect padding), window, STFT power in ``wave``'s precision
        and float32 mel product; torch's STFT, power and product were four kernels."""
        cfg = self.config
        half, win = cfg.n_fft // 2, cfg.win_length or cfg.n_fft
        padded = F.pad(wave[:, None], (half, half), mode="reflect")[:, 0]  # torch.stft's centring
        left = (cfg.n_fft - win) // 2  # torch.stft centres a shorter window in the frame
        window = F.pad(self.window.to(wave.dtype), (left, cfg.n_fft - win - left))
        frames = wave.shape[-1] // cfg.hop_length + 1
        mel_fb = self.mel_fb.float()
        mel = torch.ops.openclap.frame_rfft_mel(padded, window, mel_fb, cfg.hop_length, 2, frames)
        # in the layout of torch's path ([B, T, M] in memory): compiled with the op's [B, M, T] layout, the
        # tiny test model's package gave wrong embeddings (0.42 off) where eager and the exported program
        # did not, so the encoders get the layout they were compiled and tested with (a copy of 256 KB a
        # clip for HTS-AT)
        return mel.transpose(1, 2).contiguous().transpose(1, 2)


def build_frontend(config: AudioFrontendConfig) -> nn.Module:
    """The model's front end for ``config.frontend``: ``LogMel`` (dB) or YAMNet's ``YamnetLogMel``."""
    if config.frontend == "yamnet":
        from openclap.audio.encoders.yamnet import YamnetLogMel

        return YamnetLogMel(config)
    return LogMel(config)
