"""The shipped default model gives the answers the README prints, on real ESC-50 fold-4 clips.

Expected values are read from ``benchmarks/readme_figures.json`` (written by ``benchmarks/readme_figures.py
--write`` when a new default model ships); the answers are recomputed here through the public API and the
CLI, never taken from the code under test. A change in the front end, the weights file, the prompts or the
text tower moves the scores by far more than the tolerance (recorded figures have 4 decimals; float noise
between machines is ~1e-5).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openclap import ZeroShotClassifier, create_model, embed_audio_files
from openclap.cli import main
from openclap.factory import has_trained_weights
from tests.helpers import ESC50_AUDIO

ROOT = Path(__file__).resolve().parents[1]
FIGURES: dict[str, Any] = json.loads((ROOT / "benchmarks" / "readme_figures.json").read_text())
TOL = FIGURES["score_tolerance"]

pytestmark = pytest.mark.skipif(
    not has_trained_weights(FIGURES["model"]) or not ESC50_AUDIO.is_dir(),
    reason="needs the bundled default model and the ESC-50 fold-4 clips",
)


def _truth() -> dict[str, str]:
    """File name -> class name (spaces for underscores) for the clips of the README's five labels."""
    with open(ESC50_AUDIO.parent / "metadata.csv", newline="") as f:
        rows = {Path(r["filename"]).name: r["category"].replace("_", " ") for r in csv.DictReader(f)}
    return {name: cls for name, cls in sorted(rows.items()) if cls in FIGURES["labels"]}


@pytest.fixture(scope="module")
def five_way() -> tuple[list[str], list[list[Any]]]:
    """File names and top-3 predictions of the default model on the 40 clips, via the public API."""
    model = create_model(FIGURES["model"])
    names = sorted(_truth())
    emb = embed_audio_files(model, [ESC50_AUDIO / n for n in names]).embeddings
    return names, ZeroShotClassifier(model, FIGURES["labels"]).predict(emb, top_k=3)


def _assert_top3(got: list[tuple[str, float]], tol: float) -> None:
    expected = FIGURES["clip_top3"]
    assert [label for label, _ in got] == [label for label, _ in expected]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], atol=tol, rtol=0)


def test_api_gives_the_readme_top3_for_the_quick_start_clip(five_way) -> None:
    names, preds = five_way
    got = [(p.label, p.score) for p in preds[names.index(FIGURES["clip"])]]
    _assert_top3(got, TOL)


def test_api_gets_the_readme_count_of_the_forty_five_way_clips_right(five_way) -> None:
    names, preds = five_way
    truth = _truth()
    assert len(names) == FIGURES["five_way_total"] == 40
    top1 = {name: p[0].label for name, p in zip(names, preds, strict=True)}
    assert top1 == FIGURES["five_way_predictions"]
    assert sum(top1[n] == truth[n] for n in names) == FIGURES["five_way_correct"]


def test_cli_classify_prints_the_readme_line(capsys: pytest.CaptureFixture[str]) -> None:
    clip = ESC50_AUDIO / FIGURES["clip"]
    assert main(["classify", str(clip), "--labels", ",".join(FIGURES["labels"])]) == 0
    line = capsys.readouterr().out.strip()
    path, shown = line.split("\t")
    assert path == str(clip)
    got = [(m[1], float(m[2])) for m in re.finditer(r"([^,(]+?) \(([0-9.]+)\)", shown)]
    _assert_top3([(label.strip(), score) for label, score in got], TOL + 5e-4)  # printed with 3 decimals


def test_readme_prints_the_recorded_figures() -> None:
    readme = (ROOT / "README.md").read_text()
    shown = ", ".join(f"{label} ({score:.3f})" for label, score in FIGURES["clip_top3"])
    assert f"`{shown}`" in readme
    assert f"{FIGURES['five_way_correct']} of the {FIGURES['five_way_total']} ESC-50 fold-4 clips" in readme
