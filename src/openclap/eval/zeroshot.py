"""Zero-shot classification protocol: class prompts vs. audio embeddings, no training.

Single-label: accuracy (headline), top-5 accuracy, balanced accuracy, confusion matrix, per-class
accuracy. Multi-label: macro mAP over classes (headline) on per-class cosine similarities, mean ROC
AUC and d-prime.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from openclap import metrics
from openclap.eval.datasets.base import EvalDataset
from openclap.eval.embedding import EmbedOptions, embed_dataset
from openclap.eval.prompts import prompt_class_names, templates_for
from openclap.eval.results import EvalResult

if TYPE_CHECKING:
    from openclap.model import ClapModel


def single_label_metrics(
    targets: NDArray[np.int64], scores: NDArray[np.floating], class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy family, confusion matrix and per-class accuracy from class scores [N, C]."""
    n_classes = len(class_names)
    pred = np.argmax(scores, axis=1)
    out: dict[str, Any] = {
        "metrics": {
            "accuracy": metrics.accuracy(targets, pred),
            "balanced_accuracy": metrics.balanced_accuracy(targets, pred, n_classes),
        },
        "class_names": list(class_names),
        "confusion_matrix": metrics.confusion_matrix(targets, pred, n_classes).tolist(),
        "per_class_accuracy": metrics.per_class_accuracy(targets, pred, n_classes).tolist(),
    }
    if n_classes > 5:
        out["metrics"]["top5_accuracy"] = metrics.top_k_accuracy(targets, scores, 5)
    return out


def multi_label_metrics(labels: NDArray[np.bool_], scores: NDArray[np.floating]) -> dict[str, Any]:
    """Macro mAP, mean ROC AUC and d-prime from per-class scores [N, C]."""
    auc = metrics.mean_roc_auc(labels, scores)
    return {
        "metrics": {
            "mAP": metrics.mean_average_precision(labels, scores),
            "mean_auc": auc,
            "d_prime": metrics.d_prime(auc) if np.isfinite(auc) else float("nan"),
        }
    }


def run_zeroshot(
    model: ClapModel,
    dataset: EvalDataset,
    templates: Sequence[str] | str | None = None,
    options: EmbedOptions | None = None,
    task: str | None = None,
) -> EvalResult:
    """Zero-shot evaluation of ``model`` on a classification dataset (``openclap.eval.results``).
    ``templates`` default to the dataset's (``openclap.eval.prompts``, the published protocol's prompt);
    ``"model"`` uses the model's own prompt templates."""
    from openclap.zero_shot import ZeroShotClassifier

    if dataset.task == "retrieval":
        raise ValueError(f"{dataset.name} is a retrieval dataset; use run_retrieval")
    start = time.perf_counter()
    embedded = embed_dataset(model, dataset, options)
    kept = embedded.dataset
    used_templates = _templates(model, dataset.name, templates)
    names = prompt_class_names(kept.class_names, dataset.name)
    multi = kept.task == "multi-label"
    classifier = ZeroShotClassifier(model, names, templates=used_templates, multi_label=multi)
    scores = classifier.predict_proba(embedded.embeddings)
    if multi:
        body = multi_label_metrics(kept.label_matrix(), scores)
        headline = "mAP"
    else:
        body = single_label_metrics(kept.targets(), scores, kept.class_names)
        headline = "accuracy"
    return EvalResult.create(
        dataset.name,
        "zeroshot",
        headline,
        len(kept),
        start,
        task or f"{dataset.name} ({len(kept)} clips)",
        body,
        embedded.summary(),
        templates=used_templates,
        prompt_names=names,
    )


def _templates(model: ClapModel, dataset: str, templates: Sequence[str] | str | None) -> list[str]:
    if isinstance(templates, str):
        if templates != "model":
            raise ValueError(f"templates={templates!r}: give a list of templates or 'model'")
        return list(model.config.prompt_templates)
    return list(templates or templates_for(dataset))
