"""Linear probe splits and fitting, on synthetic embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openclap.eval.datasets.base import EvalDataset, EvalItem
from openclap.eval.linear_probe import (
    fit_probe,
    fold_splits,
    group_cv_splits,
    make_splits,
    probe_dataset,
    run_probe,
    stratified_cv_splits,
    train_test_split,
)


def _blobs(
    n_per_class: int = 12, n_classes: int = 3, dim: int = 6, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    centres = rng.normal(scale=4.0, size=(n_classes, dim))
    return centres[y] + rng.normal(size=(len(y), dim)), y


def _dataset(
    y: np.ndarray, folds: list[str | None] | None = None, speakers: list[str] | None = None
) -> EvalDataset:
    items = tuple(
        EvalItem(
            Path(f"/x/{i}.wav"),
            (int(c),),
            fold=None if folds is None else folds[i],
            meta={} if speakers is None else {"speaker": speakers[i]},
        )
        for i, c in enumerate(y)
    )
    return EvalDataset("toy", "single-label", items, tuple(f"c{c}" for c in range(int(y.max()) + 1)))


def test_split_builders_partition_items() -> None:
    folds = ["2", "10", "1", None, "2"]
    splits = fold_splits(folds)
    assert [s.name for s in splits] == ["1", "2", "10"]  # natural order
    assert splits[1].test.tolist() == [0, 4] and 3 in splits[1].train
    (tt,) = train_test_split(["train", "test", "valid", "train"], ["train"], ["test"])
    assert tt.train.tolist() == [0, 3] and tt.test.tolist() == [1]
    y = np.repeat([0, 1], 10)
    cv = stratified_cv_splits(y, 5, seed=0)
    assert sorted(np.concatenate([s.test for s in cv]).tolist()) == list(range(20))
    assert all(np.bincount(y[s.test]).tolist() == [2, 2] for s in cv)
    assert [s.test.tolist() for s in cv] == [s.test.tolist() for s in stratified_cv_splits(y, 5, seed=0)]
    groups = ["a", "a", "b", "b", "c", "c", "d", "d", "", ""]
    gs = group_cv_splits(np.zeros(10), groups, n_splits=2)
    for s in gs:
        assert not set(np.array(groups)[s.test]) & set(np.array(groups)[s.train]) - {""}
    assert [s.name for s in group_cv_splits(np.zeros(4), ["x", "y", "x", "y"], 5)] == ["x", "y"]
    with pytest.raises(ValueError, match="at least 2 folds"):
        fold_splits(["1", "1"])


def test_fit_probe_chooses_c_on_training_data_only() -> None:
    x, y = _blobs()
    model, c = fit_probe(x, y, c_grid=(0.01, 1.0), inner_splits=3)
    assert c in (0.01, 1.0) and np.mean(model.predict(x) == y) > 0.95  # type: ignore[attr-defined]
    _, fixed = fit_probe(x, y, c_grid=(0.5,))
    assert fixed == 0.5
    x1, y1 = x[:25], y[:25]  # class 2 has a single item: plain k-fold inner CV
    _, c1 = fit_probe(x1, y1, c_grid=(0.1, 1.0), inner_splits=2)
    assert c1 in (0.1, 1.0)


def test_run_probe_is_deterministic_and_accurate() -> None:
    x, y = _blobs()
    splits = stratified_cv_splits(y, 3)
    a = run_probe(x, y, splits, c_grid=(1.0,))
    b = run_probe(x, y, splits, c_grid=(1.0,))
    assert a.as_dict() == b.as_dict()
    assert a.accuracy_mean > 0.9 and set(a.fold_accuracy) == {"1", "2", "3"}
    assert (a.predictions >= 0).all()
    assert a.accuracy_std == pytest.approx(np.std(list(a.fold_accuracy.values())))


def test_make_splits_modes_and_probe_dataset() -> None:
    x, y = _blobs(n_per_class=10)
    folds = [("train", "test")[i % 2] for i in range(len(y))]
    speakers = [f"s{i % 3}" for i in range(len(y))]
    assert make_splits(_dataset(y, folds))[0].startswith("train on ['train']")
    assert (
        make_splits(_dataset(y, [str(i % 3) for i in range(len(y))]))[0] == "leave-one-fold-out over 3 folds"
    )
    assert make_splits(_dataset(y))[0].startswith("stratified 5-fold")
    desc, splits = make_splits(_dataset(y, speakers=speakers), "group", group_key="speaker", n_splits=3)
    assert desc == "3-fold cross-validation grouped by speaker" and len(splits) == 3
    with pytest.raises(ValueError, match="group_key"):
        make_splits(_dataset(y), "group")
    with pytest.raises(ValueError, match="choose one of"):
        make_splits(_dataset(y), "random")
    body = probe_dataset(x, _dataset(y), split="cv", n_splits=3, c_grid=(1.0,))
    assert body["metrics"]["accuracy"] > 0.9 and len(body["fold_accuracy"]) == 3
    assert np.sum(body["confusion_matrix"]) == len(y) and len(body["per_class_accuracy"]) == 3
