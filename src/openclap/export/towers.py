"""Exportable towers: a ``ClapModel`` split into an audio graph and a text graph of plain tensor ops.

``AudioTower``: wave [B, N] at the model's sample rate (already fitted to the clip length by the caller,
as ``ClapModel.prepare_waveforms`` does) -> L2-normalised audio embedding [B, D]. Its front end is
``MatmulLogMel``: the log-mel of ``openclap.audio.frontend.LogMel`` written with real matrix products
(reflect padding, frames, window x DFT basis as two matmuls, mel product, dB), because ONNX has no
complex STFT that every runtime supports; it runs in the config's ``stft_dtype`` (float64 by default).

YAMNet towers (``audio.frontend: yamnet``) export ``MatmulYamnetLogMel`` the same way, for the clip length.

``TextTower``: token ids + attention mask (+ token type ids for BERT) -> L2-normalised text embedding
[B, D].

Fusion models (LAION ``*fusion*``) export their path for clips that fit the clip length: the log-mel is
repeated on the four fusion channels and ``longer`` is false, which is exactly what ``prepare_fusion``
does for such clips. Their long-file input (a shrunk global mel plus three chunks) is not exported.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from openclap.audio.encoders.yamnet import LOG_OFFSET, YamnetLogMel, pad_to_patches
from openclap.audio.frontend import LogMel
from openclap.model import ClapModel

__all__ = ["AudioTower", "MatmulLogMel", "MatmulYamnetLogMel", "TextTower"]


def windowed_dft(window: torch.Tensor, n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 [len(window), n_fft // 2 + 1] cosine and sine bases of an ``n_fft``-point real DFT, the window
    folded in: ``frames @ cos`` and ``frames @ sin`` are the real and (negated) imaginary parts of the rfft
    of the windowed frames, zero-padded to ``n_fft`` when the window is shorter."""
    n = torch.arange(window.shape[0], dtype=torch.float64)[:, None]
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[None, :]
    angle = 2 * math.pi * torch.remainder(n * k, n_fft) / n_fft  # exact phase for large n * k
    window = window.to(torch.float64)[:, None]
    return window * torch.cos(angle), window * torch.sin(angle)


def gather_frames(x: torch.Tensor, offsets: torch.Tensor, hop: int) -> torch.Tensor:
    """[B, N] -> [B, T, len(offsets)]: frame t covers samples ``t * hop + offsets``, as a gather
    (``Tensor.unfold`` has no ONNX form for a dynamic length)."""
    n_frames = (x.shape[-1] - offsets.shape[0]) // hop + 1
    index = torch.arange(n_frames, device=x.device)[:, None] * hop + offsets[None, :]
    return x[:, index]


class MatmulLogMel(nn.Module):
    """``LogMel`` as matrix products: [B, N] -> [B, n_mels, N // hop + 1] in dB (float32)."""

    def __init__(self, frontend: LogMel) -> None:
        super().__init__()
        cfg = self.config = frontend.config
        dtype = torch.float64 if cfg.stft_dtype == "float64" else torch.float32
        win_length = cfg.win_length or cfg.n_fft
        window = torch.zeros(cfg.n_fft, dtype=torch.float64)  # torch.stft centres a short window
        left = (cfg.n_fft - win_length) // 2
        window[left : left + win_length] = torch.hann_window(win_length, periodic=True, dtype=torch.float64)
        dft_cos, dft_sin = windowed_dft(window, cfg.n_fft)
        self.register_buffer("dft_cos", dft_cos.to(dtype), persistent=False)
        self.register_buffer("dft_sin", dft_sin.to(dtype), persistent=False)
        self.register_buffer("mel_fb", frontend.mel_fb.to(dtype), persistent=False)
        self.register_buffer("offsets", torch.arange(cfg.n_fft), persistent=False)
        self.dtype = dtype

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        pad = cfg.n_fft // 2
        x = F.pad(wave.to(self.dtype)[:, None, :], (pad, pad), mode="reflect")[:, 0]  # [B, N + n_fft]
        frames = gather_frames(x, self.offsets, cfg.hop_length)  # [B, T, n_fft]
        power = (frames @ self.dft_cos).square() + (frames @ self.dft_sin).square()  # [B, T, F]
        mel = (power @ self.mel_fb).transpose(1, 2)  # [B, n_mels, T]
        db = 10.0 * torch.log10(torch.clamp(mel, min=cfg.amin))
        if cfg.top_db is not None:
            db = torch.maximum(db, db.amax(dim=(1, 2), keepdim=True) - cfg.top_db)
        return db.float()


class MatmulYamnetLogMel(nn.Module):
    """``YamnetLogMel`` as matrix products: [B, N] -> [B, 64, T] natural-log mel magnitude (float32).

    Uncentred frames of ``win_length`` samples every ``hop_length`` (a gather), the periodic Hann window
    folded into the DFT basis (the FFT's zero padding to ``n_fft`` drops out of a DFT over the frame),
    magnitude, TensorFlow's mel matrix, ``ln(mel + 0.001)``. The waveform is zero-padded to whole patches
    with the traced length's amounts, so the graph takes a fixed length (the model's clip).
    """

    def __init__(self, frontend: YamnetLogMel) -> None:
        super().__init__()
        cfg = self.config = frontend.config
        dtype = frontend.mel_fb.dtype
        dft_cos, dft_sin = windowed_dft(frontend.window.to(torch.float64), cfg.n_fft)
        self.register_buffer("dft_cos", dft_cos.to(dtype), persistent=False)
        self.register_buffer("dft_sin", dft_sin.to(dtype), persistent=False)
        self.register_buffer("mel_fb", frontend.mel_fb, persistent=False)
        self.register_buffer("offsets", torch.arange(frontend.win_length), persistent=False)
        self.dtype = dtype

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        x = pad_to_patches(wave, cfg).to(self.dtype)
        frames = gather_frames(x, self.offsets, cfg.hop_length)  # [B, T, win_length]
        magnitude = ((frames @ self.dft_cos).square() + (frames @ self.dft_sin).square()).sqrt()
        mel = magnitude @ self.mel_fb  # [B, T, n_mels]
        return torch.log(mel + LOG_OFFSET).transpose(1, 2).float()


class AudioTower(nn.Module):
    """wave [B, N] (fitted to the clip length) -> audio embedding [B, D], L2-normalised."""

    def __init__(self, model: ClapModel) -> None:
        super().__init__()
        if isinstance(model.frontend, YamnetLogMel):
            self.frontend: nn.Module = MatmulYamnetLogMel(model.frontend)
        elif isinstance(model.frontend, LogMel):
            self.frontend = MatmulLogMel(model.frontend)
        else:
            raise ValueError(
                f"ONNX export covers the log-mel and YAMNet front ends; {model.config.name!r} uses "
                f"{type(model.frontend).__name__} (audio.frontend={model.config.audio.frontend!r})"
            )
        self.encoder = model.audio_encoder
        self.projection = model.audio_projection
        self.quantize_int16 = model.config.audio.quantize_int16
        self.fusion = model.config.audio.fusion_shrink is not None

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if self.quantize_int16:  # LAION's int16 round trip (a cast truncates toward zero; ONNX has no trunc)
            wave = (wave.clamp(-1.0, 1.0) * 32767.0).to(torch.int32).to(wave.dtype) / 32767.0
        mel = self.frontend(wave)  # [B, n_mels, T]
        if self.fusion:
            longer = torch.zeros(mel.shape[0], dtype=torch.bool, device=mel.device)
            features = self.encoder(mel[:, None].expand(-1, 4, -1, -1), longer)
        else:
            features = self.encoder(mel)
        return F.normalize(self.projection(features), dim=-1)


class TextTower(nn.Module):
    """token ids, attention mask (, token type ids) [B, L] -> text embedding [B, D], L2-normalised."""

    def __init__(self, model: ClapModel) -> None:
        super().__init__()
        self.encoder = model.text_encoder
        self.projection = model.text_projection

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return F.normalize(self.projection(self.encoder(input_ids, attention_mask, token_type_ids)), dim=-1)
