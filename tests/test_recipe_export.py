"""Tests of the default-model export script: temperature calibration and the config check."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from openclap import ClapModel
from openclap.data.manifest import ManifestEntry, write_manifest
from tests.helpers import load_recipe

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "audio"


export = load_recipe("export")


def test_zero_shot_nll_matches_a_hand_computed_softmax() -> None:
    cosines = np.array([[0.5, 0.1], [0.2, 0.4]])
    truth = np.array([0, 0])
    p0 = math.exp(5.0) / (math.exp(5.0) + math.exp(1.0))
    p1 = math.exp(2.0) / (math.exp(2.0) + math.exp(4.0))
    expected = -(math.log(p0) + math.log(p1)) / 2
    assert export.zero_shot_nll(cosines, truth, 10.0) == pytest.approx(expected, rel=1e-12)


def test_zero_shot_nll_is_stable_for_large_scales() -> None:
    cosines = np.array([[1.0, -1.0]])
    assert export.zero_shot_nll(cosines, np.array([1]), 1000.0) == pytest.approx(2000.0)


def test_calibrated_scale_lowers_the_val_nll_on_real_clips(tiny_model: ClapModel, tmp_path: Path) -> None:
    if not FSDD.is_dir():
        pytest.skip(f"{FSDD} is absent (the shared data folder is not beside the project)")
    entries = [
        ManifestEntry(audio=str(FSDD / f"{digit}_{speaker}_{take}.flac"), captions=(f"digit {digit}",),
                      labels=(f"digit {digit}",), split="val" if take < 3 else "train")
        for digit in (0, 1, 2) for speaker in ("george", "jackson") for take in range(4)
    ]
    manifest = write_manifest(entries, tmp_path / "manifest.jsonl")
    scale, report = export.calibrated_scale(tiny_model, manifest)
    assert report["clips"] == 18 and report["classes"] == 3  # only the val split is used
    assert 1.0 <= scale <= 100.0 and scale == report["scale"]
    assert report["nll"] <= report["trained_nll"] + 1e-12
    assert report["trained_scale"] == pytest.approx(math.exp(tiny_model.logit_scale.item()), rel=1e-6)


def test_export_refuses_a_run_whose_architecture_is_not_the_registered_one(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "w.safetensors"
    monkeypatch.setattr(sys, "argv", ["export.py", str(tiny_checkpoint), "--out", str(out)])
    with pytest.raises(SystemExit, match="differs from the trained one"):
        export.main()
    assert not out.exists()
