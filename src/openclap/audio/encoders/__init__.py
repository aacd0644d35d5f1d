"""Audio encoders: log-mel [B, n_mels, T] -> pooled features [B, out_dim].

Every encoder exposes ``out_dim`` and is built from ``AudioEncoderConfig`` by ``build_audio_encoder``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from openclap.config import AudioEncoderConfig, AudioFrontendConfig


def _cnn14(params: dict, frontend: AudioFrontendConfig) -> nn.Module:
    from openclap.audio.encoders.cnn14 import Cnn14

    return Cnn14(n_mels=frontend.n_mels, **params)


def _small(params: dict, frontend: AudioFrontendConfig) -> nn.Module:
    from openclap.audio.encoders.small import SmallCnn

    return SmallCnn(n_mels=frontend.n_mels, **params)


def _htsat(params: dict, frontend: AudioFrontendConfig) -> nn.Module:
    from openclap.audio.encoders.htsat import HTSAT  # type: ignore[attr-defined]

    return HTSAT(n_mels=frontend.n_mels, **params)


ENCODERS: dict[str, Callable[[dict, AudioFrontendConfig], nn.Module]] = {
    "cnn14": _cnn14,
    "small": _small,
    "htsat": _htsat,
}


def build_audio_encoder(config: AudioEncoderConfig, frontend: AudioFrontendConfig) -> nn.Module:
    if config.type not in ENCODERS:
        raise ValueError(f"unknown audio encoder type {config.type!r}; choose one of {sorted(ENCODERS)}")
    return ENCODERS[config.type](dict(config.params), frontend)
