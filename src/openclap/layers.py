"""Projection heads into the joint embedding space, in both published styles."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openclap.config import ProjectionConfig


class MsclapProjection(nn.Module):
    """msclap: ``LayerNorm(l1(x) + dropout(l2(gelu(l1(x)))))`` with bias-free linears."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.linear1 = nn.Linear(in_dim, out_dim, bias=False)
        self.linear2 = nn.Linear(out_dim, out_dim, bias=False)
        self.layer_norm = nn.LayerNorm(out_dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embed1 = self.linear1(x)
        embed2 = self.drop(self.linear2(F.gelu(embed1)))
        return self.layer_norm(embed1 + embed2)


def build_projection(config: ProjectionConfig, in_dim: int) -> nn.Module:
    """``msclap`` (above), ``laion`` (Linear-ReLU-Linear with biases, keys ``0`` and ``2``) or ``linear``."""
    if config.style == "msclap":
        return MsclapProjection(in_dim, config.dim, config.dropout)
    if config.style == "laion":
        return nn.Sequential(nn.Linear(in_dim, config.dim), nn.ReLU(), nn.Linear(config.dim, config.dim))
    return nn.Linear(in_dim, config.dim)
