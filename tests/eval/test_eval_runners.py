"""Zero-shot, retrieval, linear-probe runners and the suite runner, end to end with the tiny test model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openclap.eval.bench import load_suite, parse_options, run_eval, run_suite
from openclap.eval.datasets import get_dataset
from openclap.eval.embedding import EmbedOptions
from openclap.eval.linear_probe import run_linear_probe
from openclap.eval.report import to_json
from openclap.eval.results import EvalResult
from openclap.eval.retrieval import run_retrieval
from openclap.eval.zeroshot import run_zeroshot

QUIET = EmbedOptions(batch_size=8, progress=False)
# The JSON keys of each protocol's result, as the untyped dicts of earlier versions wrote them.
HEAD = ("task", "dataset", "protocol", "metric", "value", "n_items", "seconds", "metrics")
CLASSES = ("class_names", "confusion_matrix", "per_class_accuracy")
EMBEDDED = ("n_failed", "errors", "n_cached", "embed_seconds")


@pytest.fixture(scope="module")
def model():
    from openclap.factory import create_model

    return create_model("tiny-test")


@pytest.fixture
def clips(tmp_path: Path, write_audio) -> Path:
    """8 clips of two classes (low / high tone), one caption each, plus a corrupt file."""
    lines = ["path,label,caption,fold"]
    for i in range(8):
        label = ("low", "high")[i % 2]
        write_audio(tmp_path / f"{label}{i}.wav", seed=(i % 2) * 8, n=4000, sample_rate=16000)
        lines.append(f"{label}{i}.wav,{label},a {label} tone number {i},{i % 4}")
    (tmp_path / "broken.wav").write_bytes(b"not audio at all")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "with_broken.csv").write_text("\n".join([*lines, "broken.wav,low,broken,0"]) + "\n")
    return tmp_path


def test_zeroshot_reports_metrics_failures_and_uses_cache(model, clips: Path, tmp_path: Path) -> None:
    ds = get_dataset("csv", clips / "with_broken.csv", label_column="label")
    cached = EmbedOptions(
        batch_size=8, progress=False, cache_dir=tmp_path / "cache", model_id="tiny-test:fixture"
    )
    first = run_zeroshot(model, ds, options=cached, task="toy")
    assert first.protocol == "zeroshot" and first.metric == "accuracy"
    assert first.n_items == 8 and first.n_failed == 1 and "broken.wav" in first.errors[0]
    assert len(first.confusion_matrix) == 2 and first.details["prompt_names"] == ["high", "low"]
    # the value itself is recomputed by hand in test_eval_known_answers.py; here it must match its matrix
    confusion = first.confusion_matrix
    assert first.value == pytest.approx((confusion[0][0] + confusion[1][1]) / 8)
    assert first["templates"] == ["This is a sound of {}."]  # the JSON form, by key
    assert set(first.to_dict()) == {*HEAD, "templates", "prompt_names", *CLASSES, *EMBEDDED}  # as before
    assert EvalResult.from_dict(json.loads(to_json(first))) == first
    second = run_zeroshot(model, ds, options=cached, task="toy")
    assert second.n_cached == 8 and second.value == first.value
    assert second.confusion_matrix == first.confusion_matrix
    with pytest.raises(ValueError, match="run_retrieval"):
        run_zeroshot(model, get_dataset("csv", clips / "labels.csv", caption_column="caption"), options=QUIET)
    own = run_zeroshot(model, ds, templates="model", options=cached, task="toy")
    assert own["templates"] == list(model.config.prompt_templates)
    with pytest.raises(ValueError, match="'model'"):
        run_zeroshot(model, ds, templates="a sound of {}", options=cached)


def test_retrieval_and_linear_probe(model, clips: Path) -> None:
    caps = get_dataset("csv", clips / "labels.csv", caption_column="caption")
    result = run_retrieval(model, caps, options=QUIET)
    assert result["n_items"] == 8 and result["n_captions"] == 8 and result["metric"] == "T2A R@1"
    assert set(result["retrieval"]) == {"text_to_audio", "audio_to_text"}
    a2t = result["retrieval"]["audio_to_text"]  # values recomputed by hand in test_eval_known_answers.py
    assert a2t["r1"] <= a2t["map10"] <= a2t["r10"]  # one caption per clip: AP@10 = 1/rank when rank <= 10
    assert set(result.to_dict()) == {*HEAD, "n_captions", "retrieval", *EMBEDDED}
    labels = get_dataset("csv", clips / "labels.csv", label_column="label")
    probe = run_linear_probe(model, labels, split="folds", c_grid=(1.0,), options=QUIET)
    same = run_eval(
        model,
        "linear-probe",
        "csv",
        clips / "labels.csv",
        QUIET,
        dataset_options={"label_column": "label"},
        split="folds",
        c_grid=(1.0,),
    )
    assert json.loads(to_json(same))["fold_accuracy"] == probe["fold_accuracy"]
    assert probe["splits"] == "leave-one-fold-out over 4 folds" and set(probe["fold_accuracy"]) == {
        "0",
        "1",
        "2",
        "3",
    }
    assert probe["value"] == pytest.approx(sum(probe["fold_accuracy"].values()) / 4)
    assert set(probe.to_dict()) == {*HEAD, "fold_accuracy", "fold_c", "splits", *CLASSES, *EMBEDDED}


def test_run_suite_writes_table_plots_and_keeps_going(model, clips: Path, tmp_path: Path) -> None:
    suite = clips / "suite" / "suite.yaml"  # roots below are relative to the suite's folder
    suite.parent.mkdir()
    suite.write_text(
        "name: toy\n"
        "tasks:\n"
        "  - {protocol: zeroshot, dataset: csv, root: ../labels.csv, label: Toy zero-shot,\n"
        "     dataset_options: {label_column: label}}\n"
        "  - {protocol: retrieval, dataset: csv, root: ../labels.csv,\n"
        "     dataset_options: {caption_column: caption}}\n"
        "  - {protocol: linear-probe, dataset: esc50, root: ../nowhere}\n"
    )
    assert load_suite(suite).tasks[0].root == (clips / "labels.csv").resolve()
    out = run_suite(suite, model, tmp_path / "out", model_name="tiny-test", embed=QUIET)
    assert out.failed == 1 and len(out.results) == 3 and out.results[2].value is None
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["suite"] == "toy" and data["results"][2]["error"].startswith("DatasetLayoutError")
    assert set(data["results"][2]) == {*HEAD, "error"} - {"metrics"}  # a failed task's row, as before
    table = (tmp_path / "out" / "results.md").read_text()
    assert "| Toy zero-shot | zeroshot | accuracy |" in table and "error: DatasetLayoutError" in table
    assert {p.name for p in out.plots} == {
        "01-toy-zero-shot-confusion.png",
        "01-toy-zero-shot-per-class.png",
        "02-csv-8-clips-8-captions-recall.png",
    }


def test_suite_validation_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks:\n  - {protocol: few-shot, dataset: esc50, root: x}\n")
    with pytest.raises(ValueError, match="protocol 'few-shot'"):
        load_suite(bad)
    bad.write_text("tasks:\n  - {protocol: zeroshot, dataset: esc50, root: x, colour: red}\n")
    with pytest.raises(ValueError, match=r"unknown keys \['colour'\]"):
        load_suite(bad)
    bad.write_text("name: empty\n")
    with pytest.raises(ValueError, match="non-empty 'tasks'"):
        load_suite(bad)


def test_shared_suite_file_parses() -> None:
    suite = load_suite(Path(__file__).resolve().parents[2] / "benchmarks" / "suite_shared.yaml")
    assert [(t.protocol, t.dataset) for t in suite.tasks] == [
        ("zeroshot", "esc50"),
        ("zeroshot", "esc50"),
        ("linear-probe", "esc50"),
        ("retrieval", "audiocaps"),
        ("linear-probe", "fsdd"),
        ("linear-probe", "philharmonia"),
    ]
    assert suite.tasks[1].options == {"templates": "model"}


def test_parse_options() -> None:
    assert parse_options(["split=group", "n-splits=6", "folds=[1, 2]", "templates=['a {}', 'b {}']"]) == {
        "split": "group",
        "n_splits": 6,
        "folds": [1, 2],
        "templates": ["a {}", "b {}"],
    }
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_options(["split"])
