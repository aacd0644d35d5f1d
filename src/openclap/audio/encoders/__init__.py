"""Audio encoders: log-mel [B, n_mels, T] -> pooled features [B, out_dim].

Every encoder exposes ``out_dim`` and is built from ``AudioEncoderConfig`` by ``build_audio_encoder``.
``audio_blocks`` lists an encoder's blocks from input to output (what freezing the lowest layers locks).
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


def _yamnet(params: dict, frontend: AudioFrontendConfig) -> nn.Module:
    from openclap.audio.encoders.yamnet import YamNet

    if frontend.frontend != "yamnet":
        raise ValueError("audio_encoder type 'yamnet' needs audio.frontend='yamnet' (YAMNet's own log-mel)")
    return YamNet(n_mels=frontend.n_mels, **params)


ENCODERS: dict[str, Callable[[dict, AudioFrontendConfig], nn.Module]] = {
    "cnn14": _cnn14,
    "small": _small,
    "htsat": _htsat,
    "yamnet": _yamnet,
}


def build_audio_encoder(config: AudioEncoderConfig, frontend: AudioFrontendConfig) -> nn.Module:
    if config.type not in ENCODERS:
        raise ValueError(f"unknown audio encoder type {config.type!r}; choose one of {sorted(ENCODERS)}")
    return ENCODERS[config.type](dict(config.params), frontend)


def _flatten(module: nn.Module) -> list[nn.Module]:
    """Children in order, with ModuleList / Sequential containers expanded one level."""
    out: list[nn.Module] = []
    for child in module.children():
        out += list(child) if isinstance(child, nn.ModuleList | nn.Sequential) else [child]
    return out


def audio_blocks(encoder: nn.Module) -> list[nn.Module]:
    """The audio encoder's blocks from input to output (Cnn14: bn0, conv_block1..6; small: bn0, stages;
    YAMNet: its 14 layers, then the AudioSet classifier)."""
    if hasattr(encoder, "conv_block1"):
        blocks = [encoder.bn0]
        blocks += [
            getattr(encoder, f"conv_block{i}") for i in range(1, 7) if hasattr(encoder, f"conv_block{i}")
        ]
        return blocks
    return _flatten(encoder)
