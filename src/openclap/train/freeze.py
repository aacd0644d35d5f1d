"""Freezing: a whole tower (LiT: a locked text tower), its lowest blocks, or parameters that receive
no gradient in the CLAP forward (e.g. Cnn14's AudioSet head, a text pooler left unused by mean pooling).

Frozen modules are also kept in eval mode, so BatchNorm statistics and dropout stay locked too.
``audio_blocks`` (``openclap.audio.encoders``) and the locking pieces and ``freeze_unused``
(``openclap.freeze``) are shared with the fine-tuning protocol; this module maps a ``FreezeConfig`` on them.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from openclap.audio.encoders import audio_blocks
from openclap.freeze import freeze_unused, lock, lowest_blocks
from openclap.model import ClapModel
from openclap.train.config import FreezeConfig

__all__ = ["apply_freeze", "audio_blocks", "freeze_unused", "text_blocks"]


def text_blocks(text_encoder: nn.Module) -> list[nn.Module]:
    """A Hugging Face tower's blocks: embeddings then transformer layers (BERT/RoBERTa/GPT-2 layouts)."""
    hf = getattr(text_encoder, "model", text_encoder)
    embeddings = [m for name in ("embeddings", "wte", "wpe") if (m := getattr(hf, name, None)) is not None]
    encoder = getattr(hf, "encoder", None)
    layers = getattr(encoder, "layer", None) if encoder is not None else getattr(hf, "h", None)
    if layers is None:
        raise ValueError(f"cannot find the transformer layers of {type(hf).__name__} to freeze")
    return [*embeddings, *layers]


def apply_freeze(model: ClapModel, config: FreezeConfig) -> list[nn.Module]:
    """Lock what ``config`` asks for; return the modules to keep in eval mode during training (the locked
    ones, and with ``batchnorm`` every BatchNorm layer)."""
    frozen: list[nn.Module] = []
    tower_specs: list[tuple[str, bool, int, Callable[[], list[nn.Module]]]] = [
        ("audio", config.audio, config.audio_layers, lambda: audio_blocks(model.audio_encoder)),
        ("text", config.text, config.text_layers, lambda: text_blocks(model.text_encoder)),
    ]
    for tower, whole, layers, blocks in tower_specs:
        encoder = model.audio_encoder if tower == "audio" else model.text_encoder
        frozen += [encoder] if whole else lowest_blocks(encoder, blocks, layers, f"freeze.{tower}_layers")
    lock(frozen)
    if config.batchnorm:  # eval mode only: their scale and shift keep training
        frozen += [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    return frozen
