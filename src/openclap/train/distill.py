"""Optional distillation from precomputed teacher embeddings (``TrainConfig.distill``).

A linear head maps the audio encoder's pooled features to the teacher's embedding space; its loss is
added to the CLAP loss with weight ``distill.weight``. Teacher embeddings come from an embedding file
(``openclap.embeddings_io``: ``.npz`` or ``.parquet``) with ``paths`` (manifest audio paths; relative
ones are relative to the file's folder) and ``embeddings`` [N, D]; they are standardised per dimension
over the file. Clips without a teacher embedding, and clips mixed with another clip by augmentation,
contribute no distillation loss. The head is trained with the model's head learning rate, saved in
training checkpoints (``train_state.pt``) and never part of the exported ``ClapModel``.

Crop-aware targets (``distill.blocks``): a clip longer than the training crop is summarised by the mean
of the teacher's block embeddings, yet the student sees only a crop of it. An optional second ``.npz``
in the same format holds per-block embeddings of such clips (``paths`` [M], ``offsets`` [M + 1],
``embeddings`` [rows, D], ``block_seconds``, ``hop_seconds``; block i of a clip starts at
``i * hop_seconds``). A crop's target is then the mean of the blocks it overlaps, weighted by the
overlap in seconds, standardised with the clip-level statistics (a crop covering the whole clip gets
the clip's target back).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from openclap.embeddings_io import read_embeddings
from openclap.train.config import DistillConfig, OptimConfig

LOSSES = ("cosine", "mse")
TEACHER_FILES = ("teacher embeddings (distill.teacher)", "teacher block embeddings (distill.blocks)")


def _key(path: str | os.PathLike[str], base: Path) -> str:
    p = Path(path)
    return str((p if p.is_absolute() else base / p).resolve())


class TeacherTargets:
    """Standardised teacher embeddings looked up by audio path (and, with ``blocks``, by crop span).
    ``standardise=False`` keeps the values as they are (``openclap.train.semantic``'s class weights);
    ``what`` names the two files in messages."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        blocks: str | os.PathLike[str] | None = None,
        standardise: bool = True,
        what: tuple[str, str] = TEACHER_FILES,
    ) -> None:
        path = Path(path)
        self.what = what
        if not path.is_file():
            raise FileNotFoundError(f"{path}: {what[0]} not found")
        data = read_embeddings(path)
        paths, emb = data.paths, data.embeddings
        if data.offsets is not None or not len(paths):
            raise ValueError(f"{path}: expected one embedding per path (no 'offsets') and at least one path")
        self.extra = data.extra
        if standardise:
            self.mean, self.std = emb.mean(axis=0), emb.std(axis=0) + 1e-6
        else:  # used as they are (semantic class weights)
            self.mean, self.std = np.zeros(emb.shape[1], np.float32), np.ones(emb.shape[1], np.float32)
        emb = ((emb - self.mean) / self.std).astype(np.float32)
        base = path.resolve().parent
        self.index = {_key(p, base): i for i, p in enumerate(paths)}
        self.embeddings = torch.from_numpy(emb)
        self.dim = int(emb.shape[1])
        self.blocks: dict[str, np.ndarray] = {}
        self.block_seconds = self.hop_seconds = 0.0
        if blocks is not None:
            self.load_blocks(Path(blocks))

    def load_blocks(self, path: Path) -> None:
        """Add per-block values of long clips (the ``blocks`` file of the class docstring)."""
        if not path.is_file():
            raise FileNotFoundError(f"{path}: {self.what[1]} not found")
        data = read_embeddings(path)  # checks that 'offsets' run from 0 to the number of rows
        missing = {"block_seconds", "hop_seconds"} - set(data.extra)
        if data.offsets is None or missing:
            raise ValueError(f"{path}: block embeddings lack {sorted(missing | {'offsets'})}")
        offsets, emb = data.offsets, data.embeddings
        self.block_seconds = float(data.extra["block_seconds"])
        self.hop_seconds = float(data.extra["hop_seconds"])
        if emb.shape[1] != self.dim:
            raise ValueError(f"{path}: block embeddings must be [rows, {self.dim}] like the clip embeddings")
        if np.any(np.diff(offsets) < 1) or self.block_seconds <= 0 or self.hop_seconds <= 0:
            raise ValueError(f"{path}: every clip needs at least one block, and block/hop seconds > 0")
        base = path.resolve().parent
        self.blocks = {_key(p, base): data.rows_of(m) for m, p in enumerate(data.paths)}

    def span_target(self, key: str, start: float, end: float) -> torch.Tensor | None:
        """The standardised overlap-weighted mean of the blocks that ``[start, end)`` covers, if any."""
        blocks = self.blocks.get(key)
        if blocks is None:
            return None
        starts = np.arange(len(blocks)) * self.hop_seconds
        overlap = np.clip(np.minimum(end, starts + self.block_seconds) - np.maximum(start, starts), 0.0, None)
        if overlap.sum() <= 0:
            return None
        raw = (overlap[:, None] * blocks).sum(axis=0) / overlap.sum()
        return torch.from_numpy(((raw - self.mean) / self.std).astype(np.float32))

    def lookup(
        self, paths: Sequence[str], spans: Sequence[tuple[float, float]] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Targets [B, D] (zeros where missing) and a bool mask [B] of the clips that have one.

        With ``spans`` (each example's ``(start, end)`` seconds in its source clip) and block
        embeddings, a clip with blocks gets the target of its span."""
        keys = [str(Path(p).resolve()) for p in paths]
        rows = [self.index.get(k, -1) for k in keys]
        mask = torch.tensor([r >= 0 for r in rows], dtype=torch.bool)
        targets = self.embeddings[torch.tensor([max(r, 0) for r in rows], dtype=torch.long)].clone()
        if spans is not None and self.blocks:
            for i, (key, (start, end)) in enumerate(zip(keys, spans, strict=True)):
                target = self.span_target(key, start, end)
                if target is not None:
                    targets[i], mask[i] = target, True
        return targets, mask


def distill_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: str, count: float | None = None
) -> torch.Tensor:
    """Mean over the masked clips of ``1 - cos`` or the per-dimension squared error; 0 when none.

    ``count``: divide the masked sum by this many clips instead (the masked clips of the whole
    accumulated batch, so the micro-batches' terms add up to the large batch's mean)."""
    pred, target = pred.float(), target.to(pred.device).float()
    if kind == "cosine":
        per_clip = 1.0 - F.cosine_similarity(pred, target, dim=-1)
    elif kind == "mse":
        per_clip = (pred - target).pow(2).mean(dim=-1)
    else:
        raise ValueError(f"distill.loss={kind!r} is not valid; choose one of {list(LOSSES)}")
    weight = mask.to(pred.device, pred.dtype)
    denominator = weight.sum().clamp(min=1.0) if count is None else max(count, 1.0)
    return (per_clip * weight).sum() / denominator


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
