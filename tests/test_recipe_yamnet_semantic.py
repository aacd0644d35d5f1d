"""YAMNet text-space targets (recipes/default_model/yamnet_semantic.py): weights from real YAMNet scores.

The scores are TensorFlow YAMNet's on three real clips (tests/fixtures/yamnet_tf.npz, as in
test_recipe_yamnet_captions.py); the classes come from the fixture class map and ontology subset.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import load_recipe, yamnet_fixture_classes, yamnet_fixture_scores

yc = load_recipe("yamnet_captions")
ys = load_recipe("yamnet_semantic")


@pytest.fixture(scope="module")
def classes() -> list:
    return yamnet_fixture_classes(yc)


@pytest.fixture(scope="module")
def scores() -> np.ndarray:
    return np.stack(yamnet_fixture_scores())


def test_weights_keep_the_top_k_informative_classes_sharpened(classes: list, scores: np.ndarray) -> None:
    excluded = np.array([c.excluded for c in classes])
    w = ys.weights(scores, excluded, gamma=2.0, top_k=5)
    assert w.shape == scores.shape and w.dtype == np.float32
    assert ((w > 0).sum(axis=1) <= 5).all() and (w >= 0).all()
    assert not w[:, excluded].any()  # silence, rooms, generic noise never weigh
    for row, s in zip(w, scores, strict=True):
        kept = np.flatnonzero(row)
        assert np.allclose(row[kept], s[kept] ** 2, rtol=1e-5)
        informative = np.where(excluded, -1.0, s)
        assert set(kept) == set(np.argsort(-informative)[:5])
    names = [c.name for c in classes]
    assert names[int(w[2].argmax())] == "Emergency vehicle"  # the siren clip
    assert w[2, names.index("Siren")] > 0
    assert names[int(w[0].argmax())] == "Speech"  # the FSDD digit
    full = ys.weights(scores, excluded, gamma=1.0, top_k=len(classes))
    assert np.allclose(full, np.where(excluded, 0.0, scores), atol=1e-6)


def test_class_texts_are_the_ontology_names(classes: list) -> None:
    texts = ys.class_texts(classes)
    assert len(texts) == 521
    assert texts[[c.name for c in classes].index("Vehicle horn, car horn, honking")] == (
        "vehicle horn, car horn, honking"
    )
