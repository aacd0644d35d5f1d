"""Chunked retrieval metrics: hand-computed cases, the full-matrix computation, and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from openclap.retrieval import (
    audio_to_text,
    cosine_similarity,
    evaluate_retrieval,
    rank_relevant,
    retrieval_metrics,
    text_to_audio,
    top_k_items,
)

sk_metrics = pytest.importorskip("sklearn.metrics")


def _unit(rows: list[list[float]]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32)


def _naive_ranks(sim: np.ndarray, relevant: list[list[int]]) -> tuple[np.ndarray, list[list[int]]]:
    """Reference: argsort every row of the full matrix (no ties in the data used here)."""
    best, all_ranks = [], []
    for q, rel in enumerate(relevant):
        order = np.argsort(-sim[q], kind="stable")
        position = np.empty_like(order)
        position[order] = np.arange(1, len(order) + 1)
        ranks = sorted(int(position[i]) for i in rel)
        all_ranks.append(ranks)
        best.append(ranks[0])
    return np.asarray(best), all_ranks


def _naive_map10(all_ranks: list[list[int]]) -> float:
    aps = []
    for ranks in all_ranks:
        aps.append(sum((i + 1) / r for i, r in enumerate(ranks) if r <= 10) / len(ranks))
    return float(np.mean(aps))


def test_text_to_audio_by_hand() -> None:
    audio = _unit([[1, 0], [0, 1]])
    text = _unit([[1, 0.1], [1, 0.2], [0.1, 1], [1, 0.3]])  # last caption belongs to clip 1 but looks like 0
    m = text_to_audio(audio, text, [0, 0, 1, 1])
    assert (m.r1, m.r5, m.r10) == (0.75, 1.0, 1.0)
    assert m.map10 == pytest.approx((1 + 1 + 1 + 0.5) / 4)
    assert m.median_rank == 1.0
    assert m.mean_rank == pytest.approx(1.25)
    assert m.n_queries == 4


def test_audio_to_text_by_hand() -> None:
    # clip 0 captions {0, 1}; clip 1 captions {2}. Clip 0 ranks texts 0 (0.99), 2, 1 -> ranks 1 and 3
    audio = _unit([[1, 0], [0, 1]])
    text = _unit([[1, 0.01], [0.2, 1], [0.9, 0.5]])
    m = audio_to_text(audio, text, [0, 0, 1])
    # clip 1 ranks: text 1 (0.98), text 2 (0.49), text 0 -> its only caption at rank 2
    assert m.r1 == 0.5 and m.r5 == 1.0
    assert m.map10 == pytest.approx(((1 / 1 + 2 / 3) / 2 + (1 / 2)) / 2)
    assert m.mean_rank == pytest.approx(1.5)


def test_constant_embeddings_score_worst_not_best() -> None:
    audio = np.ones((5, 4), np.float32)
    text = np.ones((5, 4), np.float32)
    m = text_to_audio(audio, text, np.arange(5))
    assert m.r1 == 0.0 and m.median_rank == 5.0


@pytest.mark.parametrize("query_chunk,item_chunk", [(1, 1), (7, 13), (1024, 8192)])
def test_chunked_equals_full_computation(query_chunk: int, item_chunk: int) -> None:
    rng = np.random.default_rng(0)
    audio = rng.normal(size=(40, 16))
    caps_per_clip = rng.integers(1, 6, size=40)
    mapping = np.repeat(np.arange(40), caps_per_clip)
    text = audio[mapping] + rng.normal(scale=2.0, size=(len(mapping), 16))
    sim = cosine_similarity(audio, text)
    relevant = [np.nonzero(mapping == a)[0].tolist() for a in range(40)]

    result = rank_relevant(audio, text, relevant, query_chunk=query_chunk, item_chunk=item_chunk)
    best, all_ranks = _naive_ranks(sim, relevant)
    np.testing.assert_array_equal(result.best_rank, best)
    for q, ranks in enumerate(all_ranks):
        assert sorted(result.ranks[q, : result.n_relevant[q]].tolist()) == ranks
    m = retrieval_metrics(result)
    assert m.map10 == pytest.approx(_naive_map10(all_ranks))
    assert m.r10 == pytest.approx(np.mean(best <= 10))

    t2a = text_to_audio(audio, text, mapping, query_chunk=query_chunk, item_chunk=item_chunk)
    naive_t2a, _ = _naive_ranks(sim.T, [[a] for a in mapping])
    assert t2a.mean_rank == pytest.approx(naive_t2a.mean())
    assert t2a.median_rank == np.floor(np.median(naive_t2a))
    assert t2a.r5 == pytest.approx(np.mean(naive_t2a <= 5))


def test_matches_sklearn_top_k_and_label_ranking_ap() -> None:
    rng = np.random.default_rng(3)
    audio = rng.normal(size=(30, 8))
    mapping = np.repeat(np.arange(30), 3)
    text = audio[mapping] + rng.normal(scale=1.5, size=(90, 8))
    sim = cosine_similarity(text, audio)  # [captions, clips]
    t2a = text_to_audio(audio, text, mapping, query_chunk=8, item_chunk=7)
    for k, got in ((1, t2a.r1), (5, t2a.r5), (10, t2a.r10)):
        assert got == pytest.approx(sk_metrics.top_k_accuracy_score(mapping, sim, k=k, labels=range(30)))
    # full (uncut) mAP equals sklearn's label ranking average precision, both directions
    relevance = np.zeros((30, 90), dtype=int)
    relevance[mapping, np.arange(90)] = 1
    result = rank_relevant(audio, text, [np.nonzero(relevance[a])[0].tolist() for a in range(30)], 4, 11)
    expected = sk_metrics.label_ranking_average_precision_score(relevance, sim.T)
    assert retrieval_metrics(result, map_k=None).map10 == pytest.approx(expected)
    one_hot = np.eye(30, dtype=int)[mapping]
    expected_t2a = sk_metrics.label_ranking_average_precision_score(one_hot, sim)
    assert retrieval_metrics(rank_relevant(text, audio, mapping[:, None]), map_k=None).map10 == pytest.approx(
        expected_t2a
    )


def test_evaluate_retrieval_both_directions_and_errors() -> None:
    audio = np.eye(3, dtype=np.float32)
    text = np.eye(3, dtype=np.float32)[[0, 0, 1, 2]]
    out = evaluate_retrieval(audio, text, [0, 0, 1, 2])
    assert out["text_to_audio"].r1 == 1.0 and out["audio_to_text"].r1 == 1.0
    assert out["audio_to_text"].map10 == 1.0
    with pytest.raises(ValueError, match="one clip index per caption"):
        text_to_audio(audio, text, [0, 1])
    with pytest.raises(ValueError, match="no relevant item"):
        audio_to_text(audio, text[:2], [0, 0])  # clips 1 and 2 have no caption


def test_top_k_items_chunked() -> None:
    rng = np.random.default_rng(5)
    q, items = rng.normal(size=(6, 8)), rng.normal(size=(50, 8))
    idx, val = top_k_items(q, items, k=4, item_chunk=7)
    sim = cosine_similarity(q, items)
    np.testing.assert_array_equal(idx, np.argsort(-sim, axis=1)[:, :4])
    np.testing.assert_allclose(val, np.take_along_axis(sim, idx, 1), rtol=1e-6)


def test_large_retrieval_runs_in_bounded_memory() -> None:
    """10k x 10k (100M similarities, 400 MB as float32) in 1024 x 2048 blocks."""
    rng = np.random.default_rng(7)
    emb = rng.normal(size=(10_000, 8)).astype(np.float32)
    m = text_to_audio(
        emb, emb + 0.01 * rng.normal(size=emb.shape).astype(np.float32), np.arange(10_000), item_chunk=2048
    )
    assert m.r1 > 0.9 and m.n_queries == 10_000
