"""ZeroShotClassifier on hand-built embeddings (known answers) and on the tiny model."""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from openclap import ClapModel, Prediction, ZeroShotClassifier
from openclap.zero_shot import build_classifier


class StubModel:
    """What ZeroShotClassifier uses of a ClapModel: ``tokenize`` (one token per prompt: its index),
    ``encode_text`` (a fixed vector per prompt), ``config.prompt_templates`` / ``projection.dim`` and
    ``logit_scale``."""

    def __init__(
        self, table: dict[str, Sequence[float]], templates: Sequence[str] = ("{}",), scale: float = 10.0
    ) -> None:
        self.table = table
        dim = len(next(iter(table.values())))
        self.config = SimpleNamespace(prompt_templates=tuple(templates), projection=SimpleNamespace(dim=dim))
        self.logit_scale = torch.tensor(math.log(scale))
        self.prompts: list[str] = []

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        first = len(self.prompts)
        self.prompts += list(texts)
        ids = torch.arange(first, len(self.prompts)).unsqueeze(1)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def encode_text(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        rows = [self.table[self.prompts[i]] for i in tokens["input_ids"][:, 0].tolist()]
        return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


AXES = {"dog": [1.0, 0.0, 0.0], "rain": [0.0, 1.0, 0.0], "siren": [0.0, 0.0, 1.0]}


def _classifier(**kwargs: object) -> ZeroShotClassifier:
    return ZeroShotClassifier(StubModel(AXES), list(AXES), **kwargs)  # type: ignore[arg-type]


def test_known_answer_single_label() -> None:
    clf = _classifier()
    audio = np.array([[0.1, 0.9, 0.2], [3.0, 0.0, 1.0]], np.float32)  # not normalised: re-normalised inside
    cos = audio / np.linalg.norm(audio, axis=1, keepdims=True)  # the classifier rows are the axes
    np.testing.assert_allclose(clf.similarity(audio), cos, rtol=1e-6)

    probs = clf.predict_proba(audio)
    expected = np.exp(10 * cos) / np.exp(10 * cos).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)

    preds = clf.predict(audio)
    assert [[p.label for p in row] for row in preds] == [["rain"], ["dog"]]
    assert preds[0][0].score == pytest.approx(expected[0, 1], rel=1e-5)


def test_top_k_is_ordered_and_capped() -> None:
    clf = _classifier()
    audio = np.array([[0.2, 0.5, 0.9]], np.float32)
    top2 = clf.predict(audio, top_k=2)[0]
    assert [p.label for p in top2] == ["siren", "rain"]
    assert top2[0].score > top2[1].score
    everything = clf.predict(audio, top_k=10)[0]  # more than there are labels: all of them
    assert [p.label for p in everything] == ["siren", "rain", "dog"]
    assert all(isinstance(p, Prediction) for p in everything)


def test_ties_keep_label_order() -> None:
    assert [p.label for p in _classifier().predict(np.ones((1, 3)), top_k=3)[0]] == ["dog", "rain", "siren"]


@pytest.mark.parametrize("top_k", [0, -1])
def test_top_k_below_one_is_refused(top_k: int) -> None:
    with pytest.raises(ValueError, match=f"top_k={top_k} is not valid"):
        _classifier().predict(np.ones((1, 3)), top_k=top_k)


def test_multi_label_scores_are_cosine_similarities() -> None:
    clf = _classifier(multi_label=True)
    audio = np.array([[1.0, 1.0, 0.0]], np.float32)
    scores = clf.predict_proba(audio)
    np.testing.assert_allclose(scores, [[1 / math.sqrt(2), 1 / math.sqrt(2), 0.0]], atol=1e-6)
    preds = clf.predict(audio, top_k=3, threshold=0.5)[0]
    assert [p.label for p in preds] == ["dog", "rain"]  # siren (0.0) is below the threshold
    assert clf.predict(audio, top_k=3, threshold=0.9)[0] == []


def test_prompt_ensemble_averages_normalised_prompt_embeddings() -> None:
    table = {
        "a dog": [1.0, 0.0, 0.0],
        "the dog": [0.0, 2.0, 0.0],  # different lengths: normalised first
        "a rain": [0.0, 0.0, 1.0],
        "the rain": [0.0, 0.0, 5.0],
    }
    model = StubModel(table)
    clf = ZeroShotClassifier(model, ["dog", "rain"], templates=["a {}", "the {}"])  # type: ignore[arg-type]
    assert model.prompts == ["a dog", "the dog", "a rain", "the rain"]  # label-major
    r = 1 / math.sqrt(2)
    np.testing.assert_allclose(clf.classifier.numpy(), [[r, r, 0.0], [0.0, 0.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(clf.classifier.numpy(), axis=1), 1.0, rtol=1e-6)


def test_default_template_comes_from_the_model() -> None:
    model = StubModel({"sound of dog": [1.0, 0.0], "sound of cat": [0.0, 1.0]}, templates=["sound of {}"])
    clf = ZeroShotClassifier(model, ["dog", "cat"])  # type: ignore[arg-type]
    assert clf.templates == ["sound of {}"]
    assert model.prompts == ["sound of dog", "sound of cat"]


def test_default_prompt_ensemble_comes_from_the_model() -> None:
    table = {
        "dog": [1.0, 0.0, 0.0],
        "dog sound": [0.0, 1.0, 0.0],
        "cat": [0.0, 0.0, 1.0],
        "cat sound": [0.0, 0.0, 1.0],
    }
    model = StubModel(table, templates=["{}", "{} sound"])
    clf = ZeroShotClassifier(model, ["dog", "cat"])  # type: ignore[arg-type]
    assert clf.templates == ["{}", "{} sound"]
    assert model.prompts == ["dog", "dog sound", "cat", "cat sound"]
    r = 1 / math.sqrt(2)
    np.testing.assert_allclose(clf.classifier.numpy(), [[r, r, 0.0], [0.0, 0.0, 1.0]], atol=1e-6)


def test_labels_are_stripped() -> None:
    clf = _classifier()
    assert clf.labels == ["dog", "rain", "siren"]
    clf = ZeroShotClassifier(StubModel(AXES), [" dog ", "rain\n"])  # type: ignore[arg-type]
    assert clf.labels == ["dog", "rain"]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([], "labels must be a non-empty list of non-empty strings"),
        (["dog", ""], "labels must be a non-empty list of non-empty strings"),
        (["dog", "  "], "labels must be a non-empty list of non-empty strings"),
        (["dog", "rain", "dog"], r"duplicate labels: \['dog'\]"),
        (["dog", " dog"], r"duplicate labels: \['dog'\]"),
    ],
)
def test_bad_labels(labels: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ZeroShotClassifier(StubModel(AXES), labels)  # type: ignore[arg-type]


def test_template_without_placeholder_is_named() -> None:
    with pytest.raises(ValueError, match=r"prompt template 'a sound' has no '\{\}' placeholder"):
        ZeroShotClassifier(StubModel(AXES), ["dog"], templates=["{}", "a sound"])  # type: ignore[arg-type]


def test_with_the_tiny_model(tiny_model: ClapModel) -> None:
    labels = ["dog", "rain", "siren", "church bells"]
    clf = ZeroShotClassifier(tiny_model, labels, templates=["this is a sound of {}", "a recording of {}"])
    assert clf.classifier.shape == (4, tiny_model.config.projection.dim)
    torch.testing.assert_close(clf.classifier.norm(dim=-1), torch.ones(4))
    direct = build_classifier(tiny_model, labels, clf.templates)
    torch.testing.assert_close(clf.classifier, direct)
    assert clf.logit_scale == pytest.approx(1 / 0.07, rel=1e-6)

    # An audio embedding equal to a class row is classified as that class (cosine 1 is the maximum).
    audio = clf.classifier[[2, 0]].numpy()
    preds = clf.predict(audio, top_k=2)
    assert [row[0].label for row in preds] == ["siren", "dog"]
    multi = ZeroShotClassifier(tiny_model, labels, templates=clf.templates, multi_label=True)
    np.testing.assert_allclose(multi.predict_proba(audio)[0, 2], 1.0, rtol=1e-5)
    np.testing.assert_allclose(clf.similarity(torch.from_numpy(audio)), multi.predict_proba(audio), rtol=1e-6)
