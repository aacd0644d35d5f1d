"""Supervised fine-tuning protocol on the tiny test model and tiny real WAV folders (tone vs noise)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tests.eval.eval_helpers import write_tone_noise_folder

from openclap.eval.bench import load_suite, run_eval
from openclap.eval.datasets import get_dataset
from openclap.eval.embedding import EmbedOptions
from openclap.eval.finetune import AudioClassifier, FinetuneConfig, run_finetune
from openclap.eval.linear_probe import make_splits
from openclap.eval.results import EvalResult

QUIET = EmbedOptions(batch_size=8, progress=False)
FAST: dict[str, Any] = {"batch_size": 4, "lr": 1e-2, "encoder_lr": 1e-3}
SR = 16000


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: on a loaded 2-core machine two threads make every small step wait for the other
    thread's core (these runs are tiny, so a single thread is also the fastest)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def two_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """32 clips, tone / noise alternating, in folds 1 and 2 (8 of each class per fold)."""
    return write_tone_noise_folder(tmp_path_factory.mktemp("ft-single"), ["tone", "noise"] * 16)


@pytest.fixture(scope="module")
def multi_label(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 clips labelled tone, noise or both (';'-separated)."""
    return write_tone_noise_folder(tmp_path_factory.mktemp("ft-multi"), ["tone", "noise", "tone;noise"] * 20)


def _numbers(result: EvalResult) -> dict[str, Any]:
    """A result's JSON form without its timings."""
    return {k: v for k, v in result.to_dict().items() if k not in ("seconds", "decode_seconds")}


def test_finetune_learns_two_classes_and_leaves_model_alone(tiny_model, two_classes: Path) -> None:
    dataset = get_dataset("csv", two_classes)
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    rng_state = torch.get_rng_state()
    result = run_finetune(tiny_model, dataset, epochs=5, options=QUIET, **FAST)
    assert result["protocol"] == "finetune" and result["metric"] == "accuracy"
    assert result["splits"] == "leave-one-fold-out over 2 folds"
    assert set(result["fold_accuracy"]) == {"1", "2"}
    assert result["value"] >= 0.9  # chance is 0.5; one epoch (4 steps per split) gives 0.5
    assert result["metrics"]["accuracy"] == pytest.approx(np.mean(list(result["fold_accuracy"].values())))
    assert np.array(result["confusion_matrix"]).sum() == result["n_items"] == 32
    assert result["class_names"] == ["noise", "tone"] and len(result["per_class_accuracy"]) == 2
    assert result["config"]["epochs"] == 5 and result["n_failed"] == 0
    # the source model and the caller's random state are untouched
    assert all(torch.equal(before[k], v) for k, v in tiny_model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng_state)


def test_finetune_is_deterministic_and_seeded(tiny_model, two_classes: Path) -> None:
    dataset = get_dataset("csv", two_classes)
    options = {"epochs": 2, "split": "cv", "n_splits": 2, "gain_db": 6.0, "time_masks": 1}
    options |= {"time_mask_frames": 10, **FAST}
    first = run_finetune(tiny_model, dataset, options=QUIET, **options)
    second = run_finetune(tiny_model, dataset, options=QUIET, **options)
    assert _numbers(first) == _numbers(second)
    other = run_finetune(tiny_model, dataset, options=QUIET, **{**options, "seed": 1})
    assert other["fold_loss"] != first["fold_loss"]


def test_finetune_multi_label_reports_map(tiny_model, multi_label: Path) -> None:
    dataset = get_dataset("csv", multi_label)
    assert dataset.task == "multi-label"
    result = run_finetune(tiny_model, dataset, epochs=8, split="cv", n_splits=2, options=QUIET, **FAST)
    assert result["metric"] == "mAP" and set(result["fold_mAP"]) == {"1", "2"}
    # a constant score gives 0.67 (each class is on 2 of 3 clips); 0.93-1.0 over 6 initialisations
    assert result["value"] >= 0.85
    assert "confusion_matrix" not in result and result["metrics"]["mAP_std"] >= 0.0


def test_multi_label_splits_are_unstratified_kfold(multi_label: Path) -> None:
    dataset = get_dataset("csv", multi_label)
    description, splits = make_splits(dataset, "cv", n_splits=3, seed=0)
    assert description == "3-fold cross-validation (seed 0)" and len(splits) == 3
    assert sorted(np.concatenate([s.test for s in splits]).tolist()) == list(range(len(dataset)))


def test_frozen_encoder_and_embedding_head(tiny_model, two_classes: Path) -> None:
    net = AudioClassifier(tiny_model, 3, head_input="embedding")
    assert net.head.in_features == tiny_model.config.projection.dim
    assert net(torch.zeros(2, tiny_model.config.audio.clip_samples)).shape == (2, 3)
    result = run_eval(
        tiny_model,
        "finetune",
        "csv",
        two_classes,
        QUIET,
        epochs=1,
        freeze_encoder_layers=-1,
        head_input="embedding",
        **FAST,
    )
    assert result["config"]["freeze_encoder_layers"] == -1 and 0.0 <= result["value"] <= 1.0
    with pytest.raises(ValueError, match="out of range"):
        run_finetune(tiny_model, get_dataset("csv", two_classes), freeze_encoder_layers=99, options=QUIET)
    with pytest.raises(ValueError, match="head_input"):
        run_finetune(tiny_model, get_dataset("csv", two_classes), head_input="logits", options=QUIET)


def test_suite_accepts_finetune(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "tasks:\n  - {protocol: finetune, dataset: fsdd, root: data, options: {epochs: 2, seed: 0}}\n"
    )
    (task,) = load_suite(suite).tasks
    assert task.protocol == "finetune" and dict(task.options) == {"epochs": 2, "seed": 0}


def test_cli_eval_finetune_json(two_classes: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from openclap.cli import main

    argv = ["eval", "finetune", "--dataset", "csv", "--root", str(two_classes), "--model", "tiny-test"]
    argv += ["--json", "--batch-size", "8", "-o", "epochs=1", "-o", "batch_size=8", "-o", "seed=3"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["protocol"] == "finetune" and result["config"]["seed"] == 3
    assert result["config"]["batch_size"] == 8 and result["n_items"] == 32


def test_finetune_suite_file_parses() -> None:
    suite = load_suite(Path(__file__).resolve().parents[2] / "benchmarks" / "suite_finetune.yaml")
    pairs = [(t.protocol, t.dataset) for t in suite.tasks]
    assert pairs == [("finetune", "fsdd"), ("finetune", "philharmonia")]


def test_finetune_does_not_import_the_trainer_or_the_cli() -> None:
    import subprocess
    import sys

    code = (
        "import sys, openclap.eval.finetune, openclap.eval.bench; "
        "print(sorted(m for m in sys.modules if m.startswith(('openclap.train', 'openclap.cli'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_settings_from_loose_values_are_coerced_and_checked() -> None:
    # a benchmark YAML gives strings and ints where the config wants floats
    config = FinetuneConfig.from_options(lr="2e-3", epochs=3.0, clip_grad_norm=None, random_crop=0)
    assert (config.lr, config.epochs, config.clip_grad_norm, config.random_crop) == (2e-3, 3, None, False)
    with pytest.raises(ValueError, match=r"unknown fine-tuning setting\(s\) \['epoch'\]"):
        FinetuneConfig.from_options(epoch=3)
    with pytest.raises(ValueError, match="setting random_crop: expected true or false"):
        FinetuneConfig.from_options(random_crop="false")
    with pytest.raises(ValueError, match="setting freeze_batchnorm: expected true or false"):
        FinetuneConfig.from_options(freeze_batchnorm="maybe")
