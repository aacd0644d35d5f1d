"""Optimiser pieces shared by the trainer and the fine-tuning protocol (``openclap.eval.finetune``):
AdamW parameter groups without weight decay on norms / biases / logit scales, the linear warm-up +
cosine learning-rate schedule, and the optimiser step (gradient clipping, AMP scaler, zeroing).

The schedule is a pure function of the optimiser step, so a resumed run needs only the step number.
The library keeps these here so that it never imports the trainer; ``openclap.train.optim`` builds its
per-tower groups on top of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


def decays(name: str, param: nn.Parameter) -> bool:
    """Weight decay only on matrices and conv kernels: never on norms, biases or the logit scale."""
    return param.ndim >= 2 and "logit_scale" not in name


def grouped_params(
    model: nn.Module, group_of: Callable[[str], tuple[str, float]], weight_decay: float
) -> list[dict[str, Any]]:
    """AdamW groups named ``{group}/{decay|no_decay}`` over the trainable parameters of ``model``.

    ``group_of(name)`` gives a parameter's group name and peak learning rate; each group carries
    ``lr`` and ``peak_lr`` (what ``WarmupCosine.apply`` scales). Raises when nothing is trainable.
    """
    groups: dict[str, dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        group, lr = group_of(name)
        decay = decays(name, param)
        key = f"{group}/{'decay' if decay else 'no_decay'}"
        if key not in groups:
            wd = weight_decay if decay else 0.0
            groups[key] = {"name": key, "params": [], "lr": lr, "peak_lr": lr, "weight_decay": wd}
        groups[key]["params"].append(param)
    if not groups:
        raise ValueError("no trainable parameters: both towers and the heads are frozen")
    return list(groups.values())


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


def optimizer_step(
    optimizer: torch.optim.Optimizer,
    parameters: Iterable[nn.Parameter],
    clip_grad_norm: float | None,
    scaler: Any = None,
) -> float:
    """One optimiser step after the backward pass(es): unscale (``scaler``: a ``torch.amp.GradScaler``),
    clip the trainable ``parameters``' gradient norm to ``clip_grad_norm`` (None / 0: no clipping),
    step, update the scaler, zero the gradients. Returns the norm before clipping (nan without)."""
    norm = float("nan")
    if clip_grad_norm:
        if scaler is not None:
            scaler.unscale_(optimizer)
        params = [p for p in parameters if p.requires_grad]
        norm = float(torch.nn.utils.clip_grad_norm_(params, clip_grad_norm))
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return norm
