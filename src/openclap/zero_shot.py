"""Zero-shot classification: class prompts -> a text classifier [C, D] -> per-class scores.

classifier[c] = normalize(mean over templates of normalize(text_emb(template.format(c))))
single-label: probs = softmax(exp(logit_scale) * audio_emb @ classifier.T)
multi-label: independent per-class cosine similarities (rank them or threshold them)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from openclap.config import check_prompt_templates
from openclap.inference import embed_texts
from openclap.model import ClapModel
from openclap.text.label_cache import LabelCache


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float


def build_classifier(
    model: ClapModel,
    labels: Sequence[str],
    templates: Sequence[str],
    batch_size: int = 256,
    cache: LabelCache | None = None,
) -> torch.Tensor:
    """Prompt-ensemble text classifier [C, D] (rows L2-normalised).

    With a ``cache``, rows of labels it holds for this model and template set are reused and only
    the other labels are embedded (and added to it).
    """
    check_prompt_templates(templates)
    if cache is not None:
        return cache.rows(
            model, labels, templates, lambda todo: _label_rows(model, todo, templates, batch_size)
        )
    return _label_rows(model, labels, templates, batch_size)


def _label_rows(
    model: ClapModel, labels: Sequence[str], templates: Sequence[str], batch_size: int
) -> torch.Tensor:
    prompts = [t.format(label) for label in labels for t in templates]  # label-major
    emb = torch.from_numpy(embed_texts(model, prompts, batch_size)).view(len(labels), len(templates), -1)
    return F.normalize(F.normalize(emb, dim=-1).mean(dim=1), dim=-1)


def _checked_labels(labels: Sequence[str]) -> list[str]:
    labels = [str(label).strip() for label in labels]
    if not labels or any(not label for label in labels):
        raise ValueError("labels must be a non-empty list of non-empty strings")
    if len(set(labels)) != len(labels):
        dupes = sorted({label for label in labels if labels.count(label) > 1})
        raise ValueError(f"duplicate labels: {dupes}")
    return labels


class ZeroShotClassifier:
    """Classify audio embeddings against any list of words.

    >>> clf = ZeroShotClassifier(model, ["dog", "rain"], templates=["this is a sound of {}"])
    >>> clf.predict_proba(audio_emb)  # [N, C]
    """

    def __init__(
        self,
        model: ClapModel,
        labels: Sequence[str],
        templates: Sequence[str] | None = None,
        multi_label: bool = False,
        cache: LabelCache | None = None,
    ) -> None:
        """``cache``: a ``LabelCache`` whose rows for these labels (same model, same templates) are
        reused, so each label is embedded once across classifiers and, with a cache folder, runs."""
        self.labels = _checked_labels(labels)
        self.templates = list(templates) if templates else list(model.config.prompt_templates)
        self.multi_label = multi_label
        self.logit_scale = float(model.logit_scale.detach().exp())
        self.classifier = build_classifier(model, self.labels, self.templates, cache=cache)  # [C, D]

    @classmethod
    def from_rows(
        cls,
        labels: Sequence[str],
        rows: torch.Tensor,
        logit_scale: float,
        templates: Sequence[str],
        multi_label: bool = False,
    ) -> ZeroShotClassifier:
        """A classifier from rows already built for ``labels`` and ``templates`` (a ``LabelCache``'s
        ``lookup``): no text tower needed. ``logit_scale`` is the model's, exponentiated."""
        clf = cls.__new__(cls)
        clf.labels = _checked_labels(labels)
        if rows.shape[0] != len(clf.labels):
            raise ValueError(f"{rows.shape[0]} rows for {len(clf.labels)} labels")
        clf.templates, clf.multi_label = list(templates), multi_label
        clf.logit_scale, clf.classifier = float(logit_scale), rows
        return clf

    def similarity(self, audio_emb: np.ndarray | torch.Tensor) -> np.ndarray:
        """Cosine similarity [N, C]."""
        emb = F.normalize(torch.as_tensor(np.asarray(audio_emb), dtype=torch.float32), dim=-1)
        return (emb @ self.classifier.T).numpy()

    def predict_proba(self, audio_emb: np.ndarray | torch.Tensor) -> np.ndarray:
        """Single-label: softmax over classes [N, C]; multi-label: per-class cosine similarity [N, C]."""
        sim = torch.from_numpy(self.similarity(audio_emb))
        if self.multi_label:
            return sim.numpy()
        return torch.softmax(self.logit_scale * sim, dim=-1).numpy()

    def predict(
        self, audio_emb: np.ndarray | torch.Tensor, top_k: int = 1, threshold: float | None = None
    ) -> list[list[Prediction]]:
        """Top-k labels per clip (multi-label: optionally only those scoring at least ``threshold``)."""
        if top_k < 1:
            raise ValueError(f"top_k={top_k} is not valid; it must be at least 1")
        scores = self.predict_proba(audio_emb)
        top_k = min(top_k, len(self.labels))
        results = []
        for row in scores:
            order = np.argsort(-row, kind="stable")[:top_k]
            preds = [Prediction(self.labels[i], float(row[i])) for i in order]
            if threshold is not None:
                preds = [p for p in preds if p.score >= threshold]
            results.append(preds)
        return results
