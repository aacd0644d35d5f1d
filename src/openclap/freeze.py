"""Freezing pieces shared by the trainer (``openclap.train.freeze``) and the fine-tuning protocol
(``openclap.eval.finetune``): lock a list of modules, pick a tower's lowest blocks, find parameters that
get no gradient, and keep frozen modules in eval mode while the rest trains.

Frozen modules stay in eval mode, so BatchNorm statistics and dropout stay locked too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


def lock(modules: Sequence[nn.Module]) -> None:
    """No gradient for any parameter of ``modules``."""
    for module in modules:
        for param in module.parameters():
            param.requires_grad_(False)


def lowest_blocks(
    tower: nn.Module,
    blocks: Callable[[], list[nn.Module]],
    layers: int,
    setting: str,
    whole: int | None = None,
) -> list[nn.Module]:
    """The modules that freezing the lowest ``layers`` of ``tower``'s ``blocks()`` locks (not locked yet).

    0 locks nothing (``blocks`` is not called); ``whole`` (e.g. -1), when given, means the whole tower.
    Anything outside ``[whole or 0, len(blocks())]`` is an error naming ``setting``.
    """
    if layers == 0:
        return []
    if whole is not None and layers == whole:
        return [tower]
    found = blocks()
    low = 0 if whole is None else min(0, whole)
    if layers < low or layers > len(found):
        raise ValueError(f"{setting}={layers} is out of range [{low}, {len(found)}]")
    return found[:layers]


class KeepsFrozenInEval(nn.Module):
    """A trainable wrapper whose ``frozen`` modules stay in eval mode when it is put in train mode."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen: list[nn.Module] = []  # a plain list: not registered twice as submodules

    def train(self, mode: bool = True) -> KeepsFrozenInEval:
        super().train(mode)
        for module in self.frozen:
            module.eval()
        return self


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
