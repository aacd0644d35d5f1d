"""Known answers for the evaluation runners: metric functions on hand-built scores with values worked out
by hand, and the zero-shot (single- and multi-label) and retrieval runners' headline numbers recomputed
in the test from the public embedding API with plain numpy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openclap import embed_audio_files, embed_texts
from openclap.eval.datasets import get_dataset
from openclap.eval.embedding import EmbedOptions
from openclap.eval.retrieval import run_retrieval
from openclap.eval.zeroshot import multi_label_metrics, run_zeroshot, single_label_metrics

QUIET = EmbedOptions(batch_size=8, progress=False)


def _get(result: Any, *keys: str) -> Any:
    """A field of a result, whether a dict or a dataclass."""
    for key in keys:
        result = result[key] if isinstance(result, dict) else getattr(result, key)
    return result


def test_single_label_metrics_by_hand() -> None:
    # 5 clips, 3 classes; predictions (argmax): 0, 1, 1, 2, 0 against targets 0, 1, 2, 2, 1
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.5, 0.4], [0.0, 0.3, 0.7], [0.6, 0.3, 0.1]])
    out = single_label_metrics(np.array([0, 1, 2, 2, 1]), scores, ["a", "b", "c"])
    assert out["metrics"]["accuracy"] == pytest.approx(3 / 5)
    assert out["metrics"]["balanced_accuracy"] == pytest.approx((1 / 1 + 1 / 2 + 1 / 2) / 3)
    assert out["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [0, 1, 1]]  # rows: true class
    assert out["per_class_accuracy"] == pytest.approx([1.0, 0.5, 0.5])


def test_multi_label_metrics_by_hand() -> None:
    # class 0: positives are clips 0 and 2; ranked by score 0 (0.9), 1 (0.8), 2 (0.3), 3 (0.1)
    #   precision at the positives: 1/1, 2/3 -> AP = (1 + 2/3) / 2 = 5/6; AUC: 3 of 4 pairs -> 0.75
    # class 1: positive clip 3 ranked first (0.7) -> AP 1, AUC 1
    labels = np.array([[1, 0], [0, 0], [1, 0], [0, 1]], dtype=bool)
    scores = np.array([[0.9, 0.2], [0.8, 0.1], [0.3, 0.4], [0.1, 0.7]])
    out = multi_label_metrics(labels, scores)["metrics"]
    assert out["mAP"] == pytest.approx((5 / 6 + 1) / 2)
    assert out["mean_auc"] == pytest.approx((0.75 + 1.0) / 2)


@pytest.fixture(scope="module")
def model():
    from openclap.factory import create_model

    return create_model("tiny-test")


@pytest.fixture
def clips(tmp_path: Path, write_audio) -> Path:
    """8 clips of two tones; single labels, multi-labels (low;high on every third clip) and captions."""
    single, multi = ["path,label,caption"], ["path,labels"]
    for i in range(8):
        label = ("low", "high")[i % 2]
        write_audio(tmp_path / f"{label}{i}.wav", seed=i, n=4000 + 500 * i, sample_rate=16000)
        single.append(f"{label}{i}.wav,{label},a {label} tone number {i}")
        multi.append(f"{label}{i}.wav,{'low;high' if i % 3 == 0 else label}")
    (tmp_path / "single.csv").write_text("\n".join(single) + "\n")
    (tmp_path / "multi.csv").write_text("\n".join(multi) + "\n")
    return tmp_path


def _by_hand(model, clips: Path, column: int) -> tuple[np.ndarray, list[list[str]], list[str]]:
    rows = [line.split(",") for line in (clips / ("single.csv" if column == 1 else "multi.csv")).read_text()
            .splitlines()[1:]]  # fmt: skip
    audio = embed_audio_files(model, [clips / r[0] for r in rows]).embeddings
    return audio, [r[column].split(";") for r in rows], [r[-1] for r in rows]


def test_zeroshot_accuracy_is_the_hand_computed_one(model, clips: Path) -> None:
    dataset = get_dataset("csv", clips / "single.csv", label_column="label")
    result = run_zeroshot(model, dataset, options=QUIET)
    names = _get(result, "prompt_names")
    audio, labels, _ = _by_hand(model, clips, 1)
    text = embed_texts(model, [f"This is a sound of {n}." for n in names])
    pred = np.argmax(audio @ text.T, axis=1)
    truth = np.array([names.index(lab[0]) for lab in labels])
    assert _get(result, "value") == pytest.approx(float(np.mean(pred == truth)), abs=1e-12)
    confusion = np.zeros((2, 2), dtype=int)
    np.add.at(confusion, (truth, pred), 1)
    assert _get(result, "confusion_matrix") == confusion.tolist()


def _average_precision(relevant: np.ndarray, scores: np.ndarray) -> float:
    order = np.argsort(-scores, kind="stable")
    hits = relevant[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def test_multi_label_zeroshot_map_is_the_hand_computed_one(model, clips: Path) -> None:
    dataset = get_dataset("csv", clips / "multi.csv", label_column="labels")
    result = run_zeroshot(model, dataset, options=QUIET)
    assert _get(result, "metric") == "mAP"
    names = _get(result, "prompt_names")
    audio, _, _ = _by_hand(model, clips, 1)
    labels = _multi_labels(clips)
    text = embed_texts(model, [f"This is a sound of {n}." for n in names])
    sim = audio @ text.T  # multi-label scores are cosine similarities
    target = np.array([[n in lab for n in names] for lab in labels])
    expected = np.mean([_average_precision(target[:, c], sim[:, c]) for c in range(len(names))])
    assert _get(result, "value") == pytest.approx(float(expected), abs=1e-6)


def _multi_labels(clips: Path) -> list[list[str]]:
    return [line.split(",")[1].split(";") for line in (clips / "multi.csv").read_text().splitlines()[1:]]


def test_retrieval_recall_and_map10_are_the_hand_computed_ones(model, clips: Path) -> None:
    result = run_retrieval(model, get_dataset("csv", clips / "single.csv", caption_column="caption"),
                           options=QUIET)  # fmt: skip
    audio, _, captions = _by_hand(model, clips, 1)
    text = embed_texts(model, captions)
    sim = text @ audio.T  # caption i belongs to clip i
    for direction, s in (("text_to_audio", sim), ("audio_to_text", sim.T)):
        rank = 1 + np.sum(s > np.diag(s)[:, None], axis=1)  # position of the one relevant item
        got = _get(result, "retrieval", direction)
        assert _get(got, "r1") == pytest.approx(np.mean(rank <= 1)), direction
        assert _get(got, "r5") == pytest.approx(np.mean(rank <= 5)), direction
        assert _get(got, "map10") == pytest.approx(np.mean(np.where(rank <= 10, 1 / rank, 0.0))), direction
