"""AdamW parameter groups (per-tower learning rates, no decay on norms / biases / logit scale) and the
warm-up + cosine learning-rate schedule.

The shared pieces (``decays``, ``grouped_params``, ``WarmupCosine``) live in ``openclap.optim`` so that
the library's fine-tuning protocol uses them without importing the trainer; they are re-exported here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from openclap.optim import WarmupCosine, decays, grouped_params
from openclap.train.config import OptimConfig

__all__ = [
    "TOWER_PREFIXES",
    "WarmupCosine",
    "build_optimizer",
    "decays",
    "param_groups",
    "tower_lr",
    "tower_of",
]

TOWER_PREFIXES = {"audio": ("audio_encoder.",), "text": ("text_encoder.",)}


def tower_of(name: str) -> str:
    """``audio`` / ``text`` for encoder parameters, ``head`` for projections and logit scales."""
    for tower, prefixes in TOWER_PREFIXES.items():
        if name.startswith(prefixes):
            return tower
    return "head"


def tower_lr(tower: str, config: OptimConfig) -> float:
    if tower == "audio" and config.audio_lr is not None:
        return config.audio_lr
    if tower == "text" and config.text_lr is not None:
        return config.text_lr
    return config.lr


def param_groups(model: nn.Module, config: OptimConfig) -> list[dict[str, Any]]:
    """Groups named ``{tower}/{decay|no_decay}`` over the trainable parameters, each with ``peak_lr``."""

    def group_of(name: str) -> tuple[str, float]:
        tower = tower_of(name)
        return tower, tower_lr(tower, config)

    return grouped_params(model, group_of, config.weight_decay)


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(param_groups(model, config), betas=config.betas, eps=config.eps)
