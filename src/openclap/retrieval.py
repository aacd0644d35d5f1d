"""Cross-modal retrieval metrics computed in chunks, so N x M similarities never sit in memory at once.

Protocol (AudioCaps / Clotho, several captions per clip):

- text -> audio: every caption is a query with exactly one relevant clip, its own.
- audio -> text: every clip is a query whose relevant items are all of its captions. R@k counts a hit
  when any of them is in the top k; the rank reported is that of its best-ranked caption; mAP@10
  averages precision at the rank of each caption found in the top 10, divided by the number of
  captions (the DCASE language-based audio retrieval definition).

Scores are cosine similarities. Ties are resolved pessimistically: an irrelevant item whose score is
within ``tie_atol`` of a relevant one ranks above it, so constant embeddings score as badly as possible
rather than perfectly. Memory is bounded by ``query_chunk x item_chunk x max_relevant`` booleans.
Median rank follows the published code: ``floor(median(best_rank))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "RankResult",
    "RetrievalMetrics",
    "audio_to_text",
    "cosine_similarity",
    "evaluate_retrieval",
    "l2_normalize",
    "rank_relevant",
    "retrieval_metrics",
    "text_to_audio",
    "top_k_items",
]

DEFAULT_TIE_ATOL = 1e-6


@dataclass(frozen=True)
class RankResult:
    """Per-query ranks of the relevant items.

    ``ranks[q, m]`` is the 1-based position of relevant item m of query q in the full ranked list
    (0 marks padding beyond ``n_relevant[q]``); ``best_rank[q]`` is the position of the best-ranked
    relevant item when relevant items are placed ahead of irrelevant ones they tie with each other.
    """

    ranks: NDArray[np.int64]  # [Q, M]
    n_relevant: NDArray[np.int64]  # [Q]
    best_rank: NDArray[np.int64]  # [Q]


@dataclass(frozen=True)
class RetrievalMetrics:
    """Recall@k, mAP@10 as fractions in [0, 1]; median and mean rank (1 = first); query count."""

    r1: float
    r5: float
    r10: float
    map10: float
    median_rank: float
    mean_rank: float
    n_queries: int

    def as_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}


def l2_normalize(x: ArrayLike, eps: float = 1e-12) -> NDArray[np.float32]:
    """Rows scaled to unit length, float32 (zero rows stay zero)."""
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"embeddings must be [N, D], got shape {arr.shape}")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.maximum(norms, eps)


def cosine_similarity(a: ArrayLike, b: ArrayLike) -> NDArray[np.float32]:
    """Full cosine similarity [N, M]; for small inputs only (see ``rank_relevant`` for large ones)."""
    return l2_normalize(a) @ l2_normalize(b).T


def _pad_relevant(
    relevant: Sequence[Sequence[int]] | NDArray[np.int64], n_items: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    if isinstance(relevant, np.ndarray) and relevant.ndim == 2 and relevant.shape[1] == 1:  # one per query
        idx = relevant.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= n_items):
            raise ValueError(f"relevant index out of range [0, {n_items})")
        return idx, np.ones(len(idx), dtype=np.int64)
    n_rel = np.array([len(r) for r in relevant], dtype=np.int64)
    if len(n_rel) == 0:
        raise ValueError("no queries given")
    if n_rel.min() < 1:
        raise ValueError(f"query {int(np.argmin(n_rel))} has no relevant item")
    padded = np.zeros((len(relevant), int(n_rel.max())), dtype=np.int64)
    for q, rel in enumerate(relevant):
        idx = np.asarray(rel, dtype=np.int64)
        if len(np.unique(idx)) != len(idx):
            raise ValueError(f"query {q} lists a relevant item twice: {list(idx)}")
        if idx.min() < 0 or idx.max() >= n_items:
            raise ValueError(f"query {q}: relevant index out of range [0, {n_items}): {list(idx)}")
        padded[q, : len(idx)] = idx
    return padded, n_rel


def _count_chunk(
    queries: NDArray[np.float32],
    items: NDArray[np.float32],
    rel_idx: NDArray[np.int64],
    valid: NDArray[np.bool_],
    item_chunk: int,
    tie_atol: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For one block of queries: relevant scores [q, M] and, per relevant slot, how many items score
    at least as high (over all items, relevant ones included)."""
    rel_scores = np.einsum("qd,qmd->qm", queries, items[rel_idx])  # [q, M]
    threshold = np.where(valid, rel_scores - tie_atol, np.inf)  # padding never counts
    counts = np.zeros(rel_idx.shape, dtype=np.int64)
    for start in range(0, items.shape[0], item_chunk):
        scores = queries @ items[start : start + item_chunk].T  # [q, chunk]
        counts += np.count_nonzero(scores[:, None, :] >= threshold[:, :, None], axis=2)
    # relevant items counted above: recompute from rel_scores so the comparison is self-consistent
    rel_ge = (rel_scores[:, None, :] >= threshold[:, :, None]) & valid[:, None, :]  # [q, M(self), M(other)]
    return counts, rel_ge.sum(axis=2).astype(np.int64)


def rank_relevant(
    query_emb: ArrayLike,
    item_emb: ArrayLike,
    relevant: Sequence[Sequence[int]] | NDArray[np.int64],
    query_chunk: int = 1024,
    item_chunk: int = 8192,
    tie_atol: float = DEFAULT_TIE_ATOL,
) -> RankResult:
    """Rank every item for every query by cosine similarity, keeping only the relevant items' ranks.

    ``relevant[q]`` lists the item indices relevant to query q. The full similarity matrix is never
    built: queries are taken ``query_chunk`` at a time against ``item_chunk`` items at a time.
    """
    queries, items = l2_normalize(query_emb), l2_normalize(item_emb)
    if queries.shape[0] != len(relevant):
        raise ValueError(f"{queries.shape[0]} query embeddings but {len(relevant)} relevance lists")
    if queries.shape[1] != items.shape[1]:
        raise ValueError(f"embedding sizes differ: queries {queries.shape[1]}, items {items.shape[1]}")
    rel_idx, n_rel = _pad_relevant(relevant, items.shape[0])
    valid = np.arange(rel_idx.shape[1])[None, :] < n_rel[:, None]
    ranks = np.zeros(rel_idx.shape, dtype=np.int64)
    best = np.zeros(len(n_rel), dtype=np.int64)
    for start in range(0, queries.shape[0], query_chunk):
        sl = slice(start, start + query_chunk)
        ge_all, ge_rel = _count_chunk(queries[sl], items, rel_idx[sl], valid[sl], item_chunk, tie_atol)
        irrelevant_above = np.maximum(ge_all - ge_rel, 0)  # irrelevant items scoring >= this relevant one
        ranks[sl] = np.where(valid[sl], irrelevant_above + ge_rel, 0)  # ge_rel includes the item itself
        best[sl] = 1 + np.where(valid[sl], irrelevant_above, np.iinfo(np.int64).max).min(axis=1)
    return RankResult(ranks=ranks, n_relevant=n_rel, best_rank=best)


def _average_precision_at(result: RankResult, k: int | None) -> NDArray[np.float64]:
    """AP@k per query: mean over relevant items of (relevant ranked at or above) / rank, cut at k."""
    ranks = result.ranks.astype(np.float64)
    valid = result.ranks > 0
    # number of relevant items ranked at or above each relevant item (ties included, as in sklearn LRAP)
    at_or_above = ((ranks[:, None, :] <= ranks[:, :, None]) & valid[:, None, :]).sum(axis=2)
    keep = valid if k is None else valid & (result.ranks <= k)
    terms = np.where(keep, at_or_above / np.where(valid, ranks, 1.0), 0.0)
    return terms.sum(axis=1) / result.n_relevant


def retrieval_metrics(result: RankResult, map_k: int | None = 10) -> RetrievalMetrics:
    """R@1/5/10 (any relevant item in the top k), mAP@``map_k`` (None: full mAP), median and mean rank."""
    best = result.best_rank
    return RetrievalMetrics(
        r1=float(np.mean(best <= 1)),
        r5=float(np.mean(best <= 5)),
        r10=float(np.mean(best <= 10)),
        map10=float(np.mean(_average_precision_at(result, map_k))),
        median_rank=float(np.floor(np.median(best))),
        mean_rank=float(np.mean(best)),
        n_queries=len(best),
    )


def _check_mapping(text_to_audio_idx: ArrayLike, n_audio: int, n_text: int) -> NDArray[np.int64]:
    mapping = np.asarray(text_to_audio_idx, dtype=np.int64)
    if mapping.shape != (n_text,):
        raise ValueError(
            f"text_to_audio must give one clip index per caption: got shape {mapping.shape} "
            f"for {n_text} captions"
        )
    if mapping.size and (mapping.min() < 0 or mapping.max() >= n_audio):
        raise ValueError(f"text_to_audio indices must lie in [0, {n_audio})")
    return mapping


def text_to_audio(
    audio_emb: ArrayLike,
    text_emb: ArrayLike,
    text_to_audio_idx: ArrayLike,
    query_chunk: int = 1024,
    item_chunk: int = 8192,
) -> RetrievalMetrics:
    """Each caption retrieves among all clips; its own clip (``text_to_audio_idx[t]``) is relevant."""
    audio = np.asarray(audio_emb)
    text = np.asarray(text_emb)
    mapping = _check_mapping(text_to_audio_idx, audio.shape[0], text.shape[0])
    result = rank_relevant(text, audio, mapping[:, None], query_chunk, item_chunk)
    return retrieval_metrics(result)


def audio_to_text(
    audio_emb: ArrayLike,
    text_emb: ArrayLike,
    text_to_audio_idx: ArrayLike,
    query_chunk: int = 1024,
    item_chunk: int = 8192,
) -> RetrievalMetrics:
    """Each clip retrieves among all captions; all of its captions are relevant.

    Every clip must have at least one caption.
    """
    audio = np.asarray(audio_emb)
    text = np.asarray(text_emb)
    mapping = _check_mapping(text_to_audio_idx, audio.shape[0], text.shape[0])
    order = np.argsort(mapping, kind="stable")
    bounds = np.searchsorted(mapping[order], np.arange(audio.shape[0] + 1))
    relevant = [order[bounds[a] : bounds[a + 1]].tolist() for a in range(audio.shape[0])]
    result = rank_relevant(audio, text, relevant, query_chunk, item_chunk)
    return retrieval_metrics(result)


def evaluate_retrieval(
    audio_emb: ArrayLike,
    text_emb: ArrayLike,
    text_to_audio_idx: ArrayLike,
    query_chunk: int = 1024,
    item_chunk: int = 8192,
) -> dict[str, RetrievalMetrics]:
    """Both directions: ``{"text_to_audio": ..., "audio_to_text": ...}``."""
    return {
        "text_to_audio": text_to_audio(audio_emb, text_emb, text_to_audio_idx, query_chunk, item_chunk),
        "audio_to_text": audio_to_text(audio_emb, text_emb, text_to_audio_idx, query_chunk, item_chunk),
    }


def top_k_items(
    query_emb: ArrayLike, item_emb: ArrayLike, k: int = 10, item_chunk: int = 8192
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The ``k`` most similar items per query: (indices [Q, k], cosine scores [Q, k]), best first.

    Items are scanned ``item_chunk`` at a time, keeping a running top k. Equal scores keep the lower
    item index first.
    """
    queries, items = l2_normalize(query_emb), l2_normalize(item_emb)
    k = min(k, items.shape[0])
    best_idx = np.zeros((queries.shape[0], 0), dtype=np.int64)
    best_val = np.zeros((queries.shape[0], 0), dtype=np.float32)
    for start in range(0, items.shape[0], item_chunk):
        scores = queries @ items[start : start + item_chunk].T
        idx = np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)
        all_val = np.concatenate([best_val, scores], axis=1)
        all_idx = np.concatenate([best_idx, idx], axis=1)
        order = np.lexsort((all_idx, -all_val), axis=1)[:, :k]
        best_val = np.take_along_axis(all_val, order, axis=1)
        best_idx = np.take_along_axis(all_idx, order, axis=1)
    return best_idx, best_val
