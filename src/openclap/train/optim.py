"""AdamW parameter groups (per-tower learning rates, no decay on norms / biases / logit scale) and the
warm-up + cosine learning-rate schedule.

The schedule is a pure function of the optimiser step, so a resumed run needs only the step number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from openclap.train.config import OptimConfig

TOWER_PREFIXES = {"audio": ("audio_encoder.",), "text": ("text_encoder.",)}


def tower_of(name: str) -> str:
    """``audio`` / ``text`` for encoder parameters, ``head`` for projections and logit scales."""
    for tower, prefixes in TOWER_PREFIXES.items():
        if name.startswith(prefixes):
            return tower
    return "head"


def decays(name: str, param: nn.Parameter) -> bool:
    """Weight decay only on matrices and conv kernels: never on norms, biases or the logit scale."""
    return param.ndim >= 2 and "logit_scale" not in name


def tower_lr(tower: str, config: OptimConfig) -> float:
    if tower == "audio" and config.audio_lr is not None:
        return config.audio_lr
    if tower == "text" and config.text_lr is not None:
        return config.text_lr
    return config.lr


def param_groups(model: nn.Module, config: OptimConfig) -> list[dict[str, Any]]:
    """Groups named ``{tower}/{decay|no_decay}`` over the trainable parameters, each with ``peak_lr``."""
    groups: dict[str, dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        tower, decay = tower_of(name), decays(name, param)
        key = f"{tower}/{'decay' if decay else 'no_decay'}"
        if key not in groups:
            lr = tower_lr(tower, config)
            wd = config.weight_decay if decay else 0.0
            groups[key] = {"name": key, "params": [], "lr": lr, "peak_lr": lr, "weight_decay": wd}
        groups[key]["params"].append(param)
    if not groups:
        raise ValueError("no trainable parameters: both towers and the heads are frozen")
    return list(groups.values())


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(param_groups(model, config), betas=config.betas, eps=config.eps)


@dataclass(frozen=True)
class WarmupCosine:
    """Linear warm-up over ``warmup_steps``, then cosine decay to ``min_lr_ratio`` at ``total_steps``."""

    total_steps: int
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0

    def factor(self, step: int) -> float:
        """Multiplier of the peak lr for the optimiser step with 0-based index ``step``."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        """Set every group's lr for ``step``; return the head group's (or first group's) lr."""
        factor = self.factor(step)
        for group in optimizer.param_groups:
            group["lr"] = group["peak_lr"] * factor
        return float(optimizer.param_groups[0]["lr"])

    def state_dict(self, step: int) -> dict[str, Any]:
        return {"total_steps": self.total_steps, "warmup_steps": self.warmup_steps, "step": step}
