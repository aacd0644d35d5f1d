"""Text-audio retrieval protocol (AudioCaps / Clotho): both directions, several captions per clip.

Headline: text-to-audio R@1. All of R@1/5/10, mAP@10, median and mean rank are reported for both
directions (definitions in ``openclap.retrieval``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from openclap.eval.datasets.base import EvalDataset
from openclap.eval.embedding import EmbedOptions, embed_dataset
from openclap.eval.results import EvalResult
from openclap.retrieval import evaluate_retrieval

if TYPE_CHECKING:
    from openclap.model import ClapModel


def run_retrieval(
    model: ClapModel,
    dataset: EvalDataset,
    options: EmbedOptions | None = None,
    task: str | None = None,
    text_batch_size: int = 128,
) -> EvalResult:
    """Retrieval evaluation of ``model`` on a captioned dataset."""
    from openclap.inference import embed_texts

    if dataset.task != "retrieval":
        raise ValueError(
            f"{dataset.name} is {dataset.task}; retrieval needs captions (e.g. audiocaps, clotho)"
        )
    start = time.perf_counter()
    embedded = embed_dataset(model, dataset, options)
    texts, owner = embedded.dataset.captions_flat()
    text_emb = embed_texts(model, texts, batch_size=text_batch_size)
    both = {
        direction: m.as_dict()
        for direction, m in evaluate_retrieval(embedded.embeddings, text_emb, owner).items()
    }
    n_items = len(embedded.dataset)
    return EvalResult.create(
        dataset.name,
        "retrieval",
        "T2A R@1",
        n_items,
        start,
        task or f"{dataset.name} ({n_items} clips, {len(texts)} captions)",
        {"metrics": {f"{d}_{k}": v for d, m in both.items() for k, v in m.items()}, "retrieval": both},
        embedded.summary(),
        value=both["text_to_audio"]["r1"],
        n_captions=len(texts),
    )
