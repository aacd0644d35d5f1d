"""Optional distillation from precomputed teacher embeddings (``TrainConfig.distill``).

A linear head maps the audio encoder's pooled features to the teacher's embedding space; its loss is
added to the CLAP loss with weight ``distill.weight``. Teacher embeddings come from an ``.npz`` with
``paths`` (manifest audio paths; relative ones are relative to the ``.npz`` folder) and ``embeddings``
[N, D]; they are standardised per dimension over the file. Clips without a teacher embedding, and clips
mixed with another clip by augmentation, contribute no distillation loss. The head is trained with the
model's head learning rate, saved in training checkpoints (``train_state.pt``) and never part of the
exported ``ClapModel``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from openclap.train.config import DistillConfig, OptimConfig

LOSSES = ("cosine", "mse")


def _key(path: str | os.PathLike[str], base: Path) -> str:
    p = Path(path)
    return str((p if p.is_absolute() else base / p).resolve())


class TeacherTargets:
    """Standardised teacher embeddings looked up by audio path."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: teacher embeddings (distill.teacher) not found")
        with np.load(path, allow_pickle=False) as data:
            paths, emb = data["paths"].tolist(), data["embeddings"].astype(np.float32)
        if emb.ndim != 2 or emb.shape[0] != len(paths) or not len(paths):
            raise ValueError(f"{path}: expected 'paths' [N] and 'embeddings' [N, D] with N > 0")
        emb = (emb - emb.mean(axis=0)) / (emb.std(axis=0) + 1e-6)
        base = path.resolve().parent
        self.index = {_key(p, base): i for i, p in enumerate(paths)}
        self.embeddings = torch.from_numpy(emb)
        self.dim = int(emb.shape[1])

    def lookup(self, paths: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Targets [B, D] (zeros where missing) and a bool mask [B] of the clips that have one."""
        rows = [self.index.get(str(Path(p).resolve()), -1) for p in paths]
        mask = torch.tensor([r >= 0 for r in rows], dtype=torch.bool)
        targets = self.embeddings[torch.tensor([max(r, 0) for r in rows], dtype=torch.long)]
        return targets, mask


def distill_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean over the masked clips of ``1 - cos`` or the per-dimension squared error; 0 when none."""
    pred, target = pred.float(), target.to(pred.device).float()
    if kind == "cosine":
        per_clip = 1.0 - F.cosine_similarity(pred, target, dim=-1)
    elif kind == "mse":
        per_clip = (pred - target).pow(2).mean(dim=-1)
    else:
        raise ValueError(f"distill.loss={kind!r} is not valid; choose one of {list(LOSSES)}")
    weight = mask.to(pred.device, pred.dtype)
    return (per_clip * weight).sum() / weight.sum().clamp(min=1.0)


def build_head(in_dim: int, teacher_dim: int) -> nn.Module:
    return nn.Linear(in_dim, teacher_dim)


def add_head_params(optimizer: torch.optim.Optimizer, head: nn.Module, config: OptimConfig) -> None:
    """Train the head with the head learning rate (weight decay on its matrix only)."""
    for decay in (True, False):
        params = [p for p in head.parameters() if (p.ndim >= 2) == decay]
        if params:
            optimizer.add_param_group(
                {
                    "name": f"distill/{'decay' if decay else 'no_decay'}",
                    "params": params,
                    "lr": config.lr,
                    "peak_lr": config.lr,
                    "weight_decay": config.weight_decay if decay else 0.0,
                }
            )


def check_config(config: DistillConfig) -> None:
    if config.loss not in LOSSES:
        raise ValueError(f"distill.loss={config.loss!r} is not valid; choose one of {list(LOSSES)}")
    if config.weight < 0:
        raise ValueError(f"distill.weight must be >= 0, got {config.weight}")
