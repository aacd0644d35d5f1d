"""Linear probe on frozen embeddings: standardised features + logistic regression (scikit-learn).

The regularisation strength C is chosen by an inner cross-validation on the training part of each
outer split only, so test items never influence it. Everything is deterministic: solvers are
deterministic and every shuffle uses a fixed seed.

Splits:

- ``fold_splits``: leave one official fold out at a time (ESC-50 folds, UrbanSound8K folds, ...).
- ``train_test_split``: train on some named folds, test on others (official train/test splits).
- ``stratified_cv_splits``: stratified k-fold inside one set (ESC-50 fold 4: 5 folds inside the fold);
  ``kfold_splits``: its unstratified form for multi-label sets (used by fine-tuning).
- ``group_cv_splits``: k-fold with groups kept whole (by speaker, by note); leave-one-group-out when
  there are at most k groups.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openclap.eval.datasets.base import EvalDataset
from openclap.eval.embedding import EmbedOptions, embed_dataset
from openclap.eval.results import EvalResult
from openclap.metrics import confusion_matrix, per_class_accuracy

if TYPE_CHECKING:
    from openclap.model import ClapModel

DEFAULT_C_GRID: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


@dataclass(frozen=True)
class Split:
    """One outer split: a name (the held-out fold or a counter) and item indices."""

    name: str
    train: NDArray[np.int64]
    test: NDArray[np.int64]


@dataclass
class ProbeResult:
    """Accuracy per outer split, their mean and standard deviation (population, ddof=0), the chosen C
    per split and the out-of-split prediction of every tested item (-1 for items never tested)."""

    accuracy_mean: float
    accuracy_std: float
    fold_accuracy: dict[str, float]
    fold_c: dict[str, float]
    predictions: NDArray[np.int64] = field(repr=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "accuracy_mean": self.accuracy_mean,
            "accuracy_std": self.accuracy_std,
            "fold_accuracy": dict(self.fold_accuracy),
            "fold_c": dict(self.fold_c),
        }


def _natural_key(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if value.isdigit() else (1, value)


def fold_splits(folds: Sequence[str | None]) -> list[Split]:
    """Leave-one-fold-out over the distinct folds (items without a fold are always trained on)."""
    arr = np.array(["" if f is None else str(f) for f in folds])
    names = sorted({f for f in arr.tolist() if f}, key=_natural_key)
    if len(names) < 2:
        raise ValueError(f"leave-one-fold-out needs at least 2 folds, found {names}")
    idx = np.arange(len(arr))
    return [Split(name, idx[arr != name], idx[arr == name]) for name in names]


def train_test_split(folds: Sequence[str | None], train: Sequence[str], test: Sequence[str]) -> list[Split]:
    """One split: items whose fold is in ``train`` vs. those in ``test``."""
    arr = np.array(["" if f is None else str(f) for f in folds])
    tr, te = np.nonzero(np.isin(arr, list(train)))[0], np.nonzero(np.isin(arr, list(test)))[0]
    if len(tr) == 0 or len(te) == 0:
        raise ValueError(
            f"no items in train folds {list(train)} or in test folds {list(test)}; "
            f"folds present: {sorted(set(arr.tolist()))}"
        )
    return [Split("+".join(test), tr, te)]


def stratified_cv_splits(labels: ArrayLike, n_splits: int = 5, seed: int = 0) -> list[Split]:
    """Stratified k-fold with a fixed shuffle seed."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [Split(str(i + 1), tr, te) for i, (tr, te) in enumerate(cv.split(np.zeros(len(y)), y))]


def kfold_splits(n_items: int, n_splits: int = 5, seed: int = 0) -> list[Split]:
    """Plain shuffled k-fold with a fixed seed (multi-label datasets, where stratifying is undefined)."""
    from sklearn.model_selection import KFold

    cv = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [Split(str(i + 1), tr, te) for i, (tr, te) in enumerate(cv.split(np.zeros(n_items)))]


def group_cv_splits(labels: ArrayLike, groups: Sequence[str], n_splits: int = 5) -> list[Split]:
    """Groups never straddle train and test. An empty group value makes the item a group of its own.

    At most ``n_splits`` groups: leave-one-group-out, named by the group; more: scikit-learn's
    deterministic ``GroupKFold``.
    """
    from sklearn.model_selection import GroupKFold

    y = np.asarray(labels)
    keyed = np.array([g if g else f"\0item{i}" for i, g in enumerate(groups)])
    names = sorted(set(keyed.tolist()), key=_natural_key)
    if len(names) < 2:
        raise ValueError(f"group cross-validation needs at least 2 groups, found {names}")
    if len(names) <= n_splits:
        return fold_splits(keyed.tolist())
    cv = GroupKFold(n_splits=n_splits)
    return [Split(str(i + 1), tr, te) for i, (tr, te) in enumerate(cv.split(np.zeros(len(y)), y, keyed))]


def fit_probe(
    x: NDArray[np.floating],
    y: NDArray[np.int64],
    c_grid: Sequence[float] = DEFAULT_C_GRID,
    inner_splits: int = 3,
    seed: int = 0,
    max_iter: int = 1000,
) -> tuple[object, float]:
    """Fit scaler + logistic regression, C picked by inner CV accuracy on (x, y) alone.

    Returns the refitted pipeline and its C. The inner CV is stratified when every class has at
    least 2 items (with at most that many folds), otherwise a plain shuffled k-fold.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    if len(c_grid) == 1:
        pipeline.set_params(logisticregression__C=float(c_grid[0])).fit(x, y)
        return pipeline, float(c_grid[0])
    min_count = int(np.bincount(y)[np.unique(y)].min())
    if min_count >= 2:
        inner = StratifiedKFold(n_splits=min(inner_splits, min_count), shuffle=True, random_state=seed)
    else:
        inner = KFold(n_splits=min(inner_splits, len(y)), shuffle=True, random_state=seed)
    search = GridSearchCV(
        pipeline,
        {"logisticregression__C": [float(c) for c in c_grid]},
        cv=inner,
        scoring="accuracy",
        refit=True,
    )
    search.fit(x, y)
    return search.best_estimator_, float(search.best_params_["logisticregression__C"])


def run_probe(
    embeddings: ArrayLike,
    labels: ArrayLike,
    splits: Sequence[Split],
    c_grid: Sequence[float] = DEFAULT_C_GRID,
    inner_splits: int = 3,
    seed: int = 0,
) -> ProbeResult:
    """Fit on each split's train part, score accuracy on its test part."""
    x = np.asarray(embeddings, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"need embeddings [N, D] and single-label targets [N]; got {x.shape} and {y.shape}")
    predictions = np.full(len(y), -1, dtype=np.int64)
    accuracy: dict[str, float] = {}
    chosen: dict[str, float] = {}
    for split in splits:
        if len(np.unique(y[split.train])) < 2:
            raise ValueError(f"split {split.name!r}: the training part has fewer than 2 classes")
        model, c = fit_probe(x[split.train], y[split.train], c_grid, inner_splits, seed)
        pred = np.asarray(model.predict(x[split.test]), dtype=np.int64)  # type: ignore[attr-defined]
        predictions[split.test] = pred
        accuracy[split.name] = float(np.mean(pred == y[split.test]))
        chosen[split.name] = c
    values = np.array(list(accuracy.values()))
    return ProbeResult(float(values.mean()), float(values.std()), accuracy, chosen, predictions)


SPLIT_MODES: tuple[str, ...] = ("auto", "folds", "train-test", "cv", "group")


def make_splits(
    dataset: EvalDataset,
    split: str = "auto",
    group_key: str | None = None,
    n_splits: int = 5,
    train_folds: Sequence[str] | None = None,
    test_folds: Sequence[str] | None = None,
    seed: int = 0,
) -> tuple[str, list[Split]]:
    """Outer splits for a dataset and a description of them.

    ``auto``: official train/test folds when the dataset has folds named "train" and "test";
    leave-one-fold-out when every item has one of at least 2 folds; else stratified ``n_splits``-fold CV.
    ``group`` needs ``group_key``, a metadata field such as "speaker" or "note". Multi-label datasets
    (fine-tuning) get unstratified shuffled k-fold for ``cv``.
    """
    if split not in SPLIT_MODES:
        raise ValueError(f"split={split!r} is not valid; choose one of {list(SPLIT_MODES)}")
    folds = dataset.folds
    names = {f for f in folds if f}
    if split == "auto":
        if train_folds or test_folds or {"train", "test"} <= names:
            split = "train-test"
        else:
            split = "folds" if len(names) >= 2 and None not in folds else "cv"
    if split == "train-test":
        train, test = list(train_folds or ["train"]), list(test_folds or ["test"])
        return f"train on {train}, test on {test}", train_test_split(folds, train, test)
    if split == "folds":
        found = fold_splits(folds)
        return f"leave-one-fold-out over {len(found)} folds", found
    multi = dataset.task == "multi-label"
    if split == "group":
        if not group_key:
            raise ValueError("split='group' needs group_key (a metadata field such as 'speaker')")
        labels = np.zeros(len(dataset), dtype=np.int64) if multi else dataset.targets()
        found = group_cv_splits(labels, dataset.meta_values(group_key), n_splits)
        return f"{len(found)}-fold cross-validation grouped by {group_key}", found
    if multi:
        return f"{n_splits}-fold cross-validation (seed {seed})", kfold_splits(len(dataset), n_splits, seed)
    return f"stratified {n_splits}-fold cross-validation (seed {seed})", stratified_cv_splits(
        dataset.targets(), n_splits, seed
    )


def probe_dataset(
    embeddings: ArrayLike,
    dataset: EvalDataset,
    split: str = "auto",
    group_key: str | None = None,
    n_splits: int = 5,
    train_folds: Sequence[str] | None = None,
    test_folds: Sequence[str] | None = None,
    c_grid: Sequence[float] = DEFAULT_C_GRID,
    inner_splits: int = 3,
    seed: int = 0,
) -> dict[str, Any]:
    """Linear probe on precomputed embeddings [N, D] of ``dataset`` (single-label); a result body."""
    if dataset.task != "single-label":
        raise ValueError(f"{dataset.name} is {dataset.task}; the linear probe supports single-label datasets")
    description, splits = make_splits(dataset, split, group_key, n_splits, train_folds, test_folds, seed)
    targets = dataset.targets()
    result = run_probe(embeddings, targets, splits, c_grid, inner_splits, seed)
    tested = result.predictions >= 0
    n_classes = len(dataset.class_names)
    return {
        "metrics": {"accuracy": result.accuracy_mean, "accuracy_std": result.accuracy_std},
        "fold_accuracy": result.fold_accuracy,
        "fold_c": result.fold_c,
        "splits": description,
        "class_names": list(dataset.class_names),
        "confusion_matrix": confusion_matrix(targets[tested], result.predictions[tested], n_classes).tolist(),
        "per_class_accuracy": per_class_accuracy(
            targets[tested], result.predictions[tested], n_classes
        ).tolist(),
    }


def run_linear_probe(
    model: ClapModel,
    dataset: EvalDataset,
    split: str = "auto",
    group_key: str | None = None,
    n_splits: int = 5,
    train_folds: Sequence[str] | None = None,
    test_folds: Sequence[str] | None = None,
    c_grid: Sequence[float] = DEFAULT_C_GRID,
    inner_splits: int = 3,
    seed: int = 0,
    options: EmbedOptions | None = None,
    task: str | None = None,
) -> EvalResult:
    """Embed ``dataset`` with ``model`` (frozen; cached when configured) and run the linear probe.

    Headline: mean accuracy over the outer splits (see ``make_splits`` for ``split``)."""
    start = time.perf_counter()
    embedded = embed_dataset(model, dataset, options)
    body = probe_dataset(
        embedded.embeddings,
        embedded.dataset,
        split,
        group_key,
        n_splits,
        train_folds,
        test_folds,
        c_grid,
        inner_splits,
        seed,
    )
    n_items = len(embedded.dataset)
    return EvalResult.create(
        dataset.name,
        "linear-probe",
        "accuracy",
        n_items,
        start,
        task or f"{dataset.name} ({n_items} clips)",
        body,
        embedded.summary(),
    )
