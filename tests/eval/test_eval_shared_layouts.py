"""The adapters on the real ../shared/data folders (skipped with a message when they are absent)."""

from __future__ import annotations

from collections import Counter

from eval_helpers import shared

from openclap.eval.datasets import get_dataset
from openclap.eval.prompts import prompt_class_names, templates_for


def test_esc50_fold4() -> None:
    ds = get_dataset("esc50", shared("esc50-fold4"))
    assert len(ds) == 400 and len(ds.class_names) == 50 and set(ds.folds) == {"4"}
    assert set(Counter(ds.targets().tolist()).values()) == {8}
    assert ds.class_names[0] == "dog" and ds.class_names[49] == "hand_saw"
    names = prompt_class_names(ds.class_names, "esc50")
    assert "chirping birds" in names and "dog" in names


def test_fsdd() -> None:
    ds = get_dataset("fsdd", shared("fsdd"))
    assert len(ds) == 3000 and len(set(ds.meta_values("speaker"))) == 6
    assert Counter(ds.folds) == {"train": 2700, "test": 300}


def test_philharmonia() -> None:
    ds = get_dataset("philharmonia", shared("philharmonia"))
    assert len(ds) == 1602 and "flute" in ds.class_names and ds.items[0].path.suffix == ".mp3"
    common = get_dataset("philharmonia", shared("philharmonia"), min_class_count=10)
    assert min(Counter(common.targets().tolist()).values()) >= 10


def test_audiocaps_demo() -> None:
    ds = get_dataset("audiocaps", shared("audiocaps-demo"))
    texts, owner = ds.captions_flat()
    assert len(ds) == 13 and len(texts) == 65 and set(Counter(owner.tolist()).values()) == {5}
    assert templates_for("audiocaps")  # falls back to the default template
