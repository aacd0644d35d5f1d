"""Freezing: a whole tower (LiT: a locked text tower), its lowest blocks, or parameters that receive
no gradient in the CLAP forward (e.g. Cnn14's AudioSet head, a text pooler left unused by mean pooling).

Frozen modules are also kept in eval mode, so BatchNorm statistics and dropout stay locked too.
``audio_blocks`` lives in ``openclap.audio.encoders`` (shared with the fine-tuning protocol).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from openclap.audio.encoders import audio_blocks
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


def _lock(modules: list[nn.Module]) -> None:
    for module in modules:
        for param in module.parameters():
            param.requires_grad_(False)


def _lowest(blocks: list[nn.Module], layers: int, tower: str) -> list[nn.Module]:
    if layers < 0 or layers > len(blocks):
        raise ValueError(f"freeze.{tower}_layers={layers} is out of range [0, {len(blocks)}]")
    return blocks[:layers]


def apply_freeze(model: ClapModel, config: FreezeConfig) -> list[nn.Module]:
    """Lock what ``config`` asks for; return the modules to keep in eval mode during training."""
    frozen: list[nn.Module] = []
    tower_specs: list[tuple[str, bool, int, Callable[[], list[nn.Module]]]] = [
        ("audio", config.audio, config.audio_layers, lambda: audio_blocks(model.audio_encoder)),
        ("text", config.text, config.text_layers, lambda: text_blocks(model.text_encoder)),
    ]
    for tower, whole, layers, blocks in tower_specs:
        if whole:
            frozen.append(model.audio_encoder if tower == "audio" else model.text_encoder)
        elif layers:
            frozen += _lowest(blocks(), layers, tower)
    _lock(frozen)
    return frozen


def freeze_unused(module: nn.Module, run_probe: Callable[[], torch.Tensor]) -> list[str]:
    """Freeze trainable parameters that get no gradient from ``run_probe()`` (a loss); return their names.

    The probe runs in eval mode, so it neither draws random numbers nor updates BatchNorm statistics.
    AdamW never updates a parameter without a gradient, so this changes nothing but lets DDP run
    without ``find_unused_parameters``.
    """
    was_training = module.training
    module.eval()
    run_probe().backward()
    unused = [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]
    for name, param in module.named_parameters():
        param.grad = None
        if name in unused:
            param.requires_grad_(False)
    module.train(was_training)
    return unused
