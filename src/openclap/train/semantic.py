"""Text-space distillation (``distill.semantic``): a tagger's class weights pull a crop's audio embedding
towards what the text side says about those classes.

A tagger (the default-model recipe uses YAMNet: 521 AudioSet classes) says what it hears in each clip. The
targets file is an embedding file (``openclap.embeddings_io``) whose ``embeddings`` are non-negative
weights over the tagger's classes [N, C] per clip, with the classes' texts in ``class_texts`` [C]; an
optional second file holds the weights of every block of long clips (the same layout as
``distill.blocks``), so a crop's weights are the overlap-weighted mean of the blocks it covers. Nothing is
standardised: the weights are used as they are.

The locked text tower encodes every class text once with each of the model's prompt templates. At every
step the text projection, which is being trained, maps those features into the joint space; a class's
embedding is the normalised mean over its templates, and a crop's target is the normalised weighted mean
of its classes' embeddings. The loss is contrastive (``semantic_loss``): each crop's audio embedding must
pick its own target among the targets of the batch's other crops, over the crops that have weights and
were not mixed with another clip, weighted by ``distill.semantic_weight``. The audio
tower so learns the tagger's vocabulary in the very space that zero-shot classification reads, for every
clip, whether or not its caption names it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from openclap.model import ClapModel
from openclap.train.config import TrainConfig
from openclap.train.distill import TeacherTargets

SEMANTIC_FILES = (
    "semantic class weights (distill.semantic)",
    "semantic block weights (distill.semantic_blocks)",
)


class SemanticTargets:
    """Per-clip (and per-block) class weights looked up by audio path and crop, and the class texts."""

    def __init__(self, path: str | os.PathLike[str], blocks: str | os.PathLike[str] | None = None) -> None:
        self.weights = TeacherTargets(path, standardise=False, what=SEMANTIC_FILES)
        texts = self.weights.extra.get("class_texts")
        if texts is None or len(texts) != self.weights.dim:
            raise ValueError(
                f"{path}: semantic targets need 'class_texts' with one text per weight column "
                f"({self.weights.dim}), found {0 if texts is None else len(texts)}"
            )
        if bool((self.weights.embeddings < 0).any()):
            raise ValueError(f"{path}: semantic class weights must be >= 0")
        if blocks is not None:  # after the checks above, so a wrong clip file is named as such
            self.weights.load_blocks(Path(blocks))
            if any(bool((rows < 0).any()) for rows in self.weights.blocks.values()):
                raise ValueError(f"{blocks}: semantic block weights must be >= 0")
        self.class_texts = [str(t) for t in texts]

    def lookup(
        self, paths: Sequence[str], spans: Sequence[tuple[float, float]] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Weights [B, C] (zeros where missing) and the mask [B] of the clips that have them."""
        return self.weights.lookup(paths, spans)

    def class_features(self, model: ClapModel, templates: Sequence[str]) -> torch.Tensor:
        """The locked text tower's pooled features of every class text in every template: [T, C, D_text]."""
        return template_features(model, self.class_texts, templates)


def template_features(model: ClapModel, texts: Sequence[str], templates: Sequence[str]) -> torch.Tensor:
    """[T, len(texts), D_text]: the text tower's pooled features of each text in each template (no grad)."""
    device = model.logit_scale.device
    rows = []
    with torch.no_grad():
        for template in templates:
            tokens = model.tokenize([template.format(text) for text in texts])
            rows.append(model.text_features({k: v.to(device) for k, v in tokens.items()}).float())
    return torch.stack(rows)


def text_feature_table(
    model: ClapModel, texts: Sequence[str], batch_size: int = 256
) -> dict[str, torch.Tensor]:
    """The locked text tower's pooled features (float32, no grad) of each distinct text, in batches of
    ``batch_size`` over the sorted distinct texts: what trains heads on a frozen text tower reads."""
    unique = sorted(set(texts))
    out = []
    with torch.no_grad():
        for start in range(0, len(unique), batch_size):
            out.append(model.text_features(model.tokenize(unique[start : start + batch_size])).float())
    return dict(zip(unique, torch.cat(out), strict=True))


def class_embeddings(text_projection: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """[C, D]: each class's projected, normalised text features, averaged over templates and normalised."""
    per_template = F.normalize(text_projection(features), dim=-1)
    return F.normalize(per_template.mean(dim=0), dim=-1)


def semantic_loss(
    audio_emb: torch.Tensor,
    weights: torch.Tensor,
    classes: torch.Tensor,
    mask: torch.Tensor,
    logit_scale: torch.Tensor,
    count: float | None = None,
) -> torch.Tensor:
    """Contrastive loss of the masked crops' audio embeddings against their targets
    ``normalise(weights @ classes)``: each crop's own target against the other crops' (cross-entropy
    over ``exp(logit_scale) * cos``, audio to target), summed over the crops and divided by their number
    (or by ``count``: the masked crops of a whole accumulated batch). 0 with fewer than two crops.

    Contrastive, not a regression: the targets of all clips share a large common direction (every class
    text is a sound), which a cosine regression could meet without telling clips apart; here only the
    differences between clips lower the loss."""
    weights = weights.to(classes.device, classes.dtype)
    valid = mask.to(classes.device) & (weights.sum(dim=-1) > 0)
    if int(valid.sum()) < 2:
        return audio_emb.sum() * 0.0
    target = F.normalize(weights[valid] @ classes, dim=-1)
    logits = logit_scale.exp() * audio_emb[valid].float() @ target.float().T
    labels = torch.arange(len(target), device=logits.device)
    total = F.cross_entropy(logits, labels, reduction="sum")
    return total / (valid.sum().float() if count is None else max(count, 1.0))


def check_semantic(config: TrainConfig) -> None:
    """Semantic targets read the class texts through the text tower once, so the tower must be locked."""
    if not config.freeze.text:
        raise ValueError("distill.semantic needs a locked text tower (freeze: {text: true})")
    if config.distill.semantic_weight < 0:
        raise ValueError(f"distill.semantic_weight must be >= 0, got {config.distill.semantic_weight}")
