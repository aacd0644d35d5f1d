"""Gradient accumulation that enlarges the contrastive batch (``optim.grad_accum_steps`` = k > 1).

A contrastive loss is not a sum over examples: every clip is scored against every caption of the batch,
so k micro-batches of B, each with its own loss, give a different (weaker: fewer negatives) gradient than
one batch of k * B. The trainer does what open_clip's ``accum_freq`` does, with feature caching:

1. a pass without gradient over all k micro-batches caches their audio and text embeddings;
2. for each micro-batch j in turn, a forward pass with gradient; its embeddings replace slice j of the
   cached ones, the loss is computed over the whole accumulated batch (all-gathered under DDP as
   usual) and back-propagated. Only slice j carries gradient, so the k backward passes sum to the
   gradient of the k * B batch's loss. The logit scales, which every pass uses, get their gradient in
   the last pass only (open_clip counts it k times).

Both passes of a micro-batch see the same inputs: augmentation runs once per micro-batch and is reused,
SpecAugment masks and a fusion model's chunks come from the micro-batch's seed, and dropout reseeds the
global generator from ``(seed, step, micro-step, rank)`` before each forward. The gradient is then the
large batch's for the same clips, up to float rounding. Cost: one extra forward pass (no gradient) per
micro-batch; memory: the cached embeddings only.

BatchNorm layers in train mode normalise each micro-batch with its own statistics (as any accumulation
does), so with them the gradient differs from the large batch's by that; the cached pass restores the
running statistics, which are updated once per micro-batch as without caching. ``freeze.batchnorm: true``
keeps BatchNorm layers in eval mode (scale and shift still trained), and the match is then exact.
Augmentation draws per micro-batch (and mixing pairs clips within one), so a k x B run and a single
k * B batch see different, equally distributed, random draws.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

Outputs = dict[str, Any]
EMBEDDINGS = ("audio_emb", "text_emb")


@dataclass
class Micro:
    """One micro-batch, augmented once and fed unchanged to the cached and the gradient pass."""

    index: int
    wave: torch.Tensor
    text: dict[str, torch.Tensor] | torch.Tensor
    lengths: torch.Tensor | None
    spec_seed: int
    dropout_seed: int
    distill_targets: tuple[torch.Tensor, torch.Tensor] | None = None  # (targets [B, D], mask [B])
    semantic_targets: tuple[torch.Tensor, torch.Tensor] | None = None  # (class weights [B, C], mask [B])


@contextmanager
def restored_buffers(module: nn.Module) -> Iterator[None]:
    """Put every buffer of ``module`` back as it was (BatchNorm running statistics) on exit."""
    saved = [buffer.detach().clone() for buffer in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in zip(module.buffers(), saved, strict=True):
                buffer.copy_(value)


def cache_embeddings(
    module: nn.Module, micros: Sequence[Micro], forward: Callable[[nn.Module, Micro], Outputs]
) -> dict[str, list[torch.Tensor]]:
    """The embeddings of every micro-batch from a pass without gradient (``module`` unwrapped from DDP,
    so the pass involves no collective); buffers are left untouched."""
    cached: dict[str, list[torch.Tensor]] = {key: [] for key in EMBEDDINGS}
    with torch.no_grad(), restored_buffers(module):
        for micro in micros:
            out = forward(module, micro)
            for key in EMBEDDINGS:
                cached[key].append(out[key].detach())
    return cached


def splice(out: Outputs, cached: dict[str, list[torch.Tensor]] | None, index: int, last: bool) -> Outputs:
    """``out`` with its embeddings put in place of micro-batch ``index``'s cached slice (the whole
    accumulated batch), and its logit scales detached unless ``last``. Without a cache: ``out``."""
    if cached is None:
        return out
    spliced = dict(out)
    for key in EMBEDDINGS:
        parts = cached[key]
        spliced[key] = torch.cat([*parts[:index], out[key], *parts[index + 1 :]])
    if not last:
        for key in ("logit_scale", "logit_scale_t"):
            if key in spliced:
                spliced[key] = spliced[key].detach()
    return spliced
