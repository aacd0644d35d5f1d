"""The helpers of benchmarks/val_zero_shot.py, which chooses the default model's settings."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "val_zero_shot.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("val_zero_shot", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


vzs = _load()


def test_knn_hits_skips_singleton_labels_and_never_matches_a_clip_to_itself() -> None:
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.7, 0.7]])
    truth = np.array([0, 0, 1, 0, 2])  # clip 3 (label 0) sits next to clip 2 (label 1); label 2 is alone
    hits, counted = vzs.knn_hits(emb, truth)
    assert counted == 3  # clips 0, 1 and 3; clip 2's label 1 and clip 4's label 2 occur once
    assert hits.tolist() == [1.0, 1.0, 0.0]


def test_paired_interval_is_seeded_and_brackets_the_mean_difference() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2, 300).astype(float)
    b = a.copy()
    b[:30] = 1 - b[:30]
    low, high = vzs.paired_interval(a, b, 2000)
    assert (low, high) == vzs.paired_interval(a, b, 2000)
    assert low <= (a - b).mean() <= high
    assert vzs.paired_interval(a + 2.0, a, 500) == (2.0, 2.0)


def test_template_sets_need_a_label_slot() -> None:
    assert vzs._parse_set("{}| {} sound |") == ["{}", "{} sound"]
    with pytest.raises(SystemExit, match="needs a"):
        vzs._parse_set("{}|a dog")


def test_degraded_clips_are_the_same_on_every_call() -> None:
    wave = np.sin(np.linspace(0, 400, 16000)).astype(np.float32)
    for condition in ("noise10", "reverb0.4"):
        first, second = vzs.degrade([wave], condition, 16000), vzs.degrade([wave], condition, 16000)
        assert np.array_equal(first[0], second[0]) and not np.array_equal(first[0], wave)
    with pytest.raises(SystemExit, match="unknown condition"):
        vzs.degrade([wave], "echo3", 16000)


def test_teacher_fit_is_high_for_a_linear_image_of_the_teacher_and_low_for_noise() -> None:
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(400, 16)) * rng.uniform(0.5, 3.0, 16) + 5.0
    mixing = rng.normal(size=(16, 8))
    student = teacher @ mixing + 0.05 * rng.normal(size=(400, 8))  # keeps 8 of the teacher's 16 directions
    exact = vzs.teacher_fit(teacher[:300] @ np.eye(16), teacher[:300], teacher[300:], teacher[300:])
    partial = vzs.teacher_fit(student[:300], teacher[:300], student[300:], teacher[300:])
    noise = rng.normal(size=(400, 8))
    unrelated = vzs.teacher_fit(noise[:300], teacher[:300], noise[300:], teacher[300:])
    assert exact.shape == (100,) and exact.min() > 99.0
    assert 40.0 < partial.mean() < 95.0
    assert abs(unrelated.mean()) < 20.0


def test_configs_come_from_the_checkpoints_unless_given(tiny_checkpoint: Path) -> None:
    assert [c.name for c in vzs._configs(None, [str(tiny_checkpoint)] * 2)] == ["tiny-test", "tiny-test"]
    assert [c.name for c in vzs._configs(["openclap-small"], ["a", "b"])] == ["openclap-small"] * 2
    with pytest.raises(SystemExit, match=r"nope\.safetensors: checkpoint not found"):
        vzs._configs(None, ["/nope.safetensors"])
    with pytest.raises(SystemExit, match="unknown model 'no-such-model'"):
        vzs._configs(["no-such-model"], ["a"])
