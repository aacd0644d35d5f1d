"""YAMNet teacher targets (recipes/default_model/yamnet_teacher.py) on real clips: per-clip means and
per-patch rows in teacher.py's resumable format, read back crop-aware by the trainer's TeacherTargets.

The network has seeded random weights (the exported ones are not in CI); the test is about the targets'
layout, timing and resumption, not about YAMNet's accuracy (tests/audio/test_yamnet.py covers that).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from openclap.audio.encoders.yamnet import YAMNET_FRONTEND, Yamnet
from openclap.audio.io import load_mono
from openclap.train.distill import TeacherTargets
from tests.helpers import load_recipe

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLIPS = [
    DATA / "fsdd/audio/0_george_0.flac",
    DATA / "philharmonia/audio/banjo/banjo_A3_very-long_forte_normal.mp3",
]

yamnet_teacher = load_recipe("yamnet_teacher")


@pytest.fixture(scope="module")
def model() -> Yamnet:
    """Seeded He-initialised convolutions: torch's default init makes 14 layers fade to 1e-10 outputs,
    equal for every patch, which would hide a mix-up of patches."""
    torch.manual_seed(0)
    yamnet = Yamnet(YAMNET_FRONTEND, class_names=[f"class {i}" for i in range(521)]).eval()
    for module in yamnet.net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return yamnet


def test_targets_are_patch_means_with_crop_aware_patches(
    model: Yamnet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not all(c.is_file() for c in CLIPS):
        pytest.skip(f"shared data {DATA} is not present (tests read ../shared/data in place)")
    (tmp_path / "broken.flac").write_bytes(b"not audio")
    rows = [{"audio": str(c), "duration": sf.info(str(c)).duration} for c in CLIPS]
    rows.append({"audio": str(tmp_path / "broken.flac"), "duration": 5.0})
    yamnet_teacher.write_targets(model, rows, tmp_path, blocks_longer_than=3.0)
    assert "skipped" in capsys.readouterr().out  # the undecodable file is reported, the rest written
    clips = np.load(tmp_path / "yamnet_teacher.npz")
    blocks = np.load(tmp_path / "yamnet_teacher_blocks.npz")
    assert clips["paths"].tolist() == sorted(str(c) for c in CLIPS)
    assert clips["embeddings"].shape == (2, 1024) and clips["scores"].shape == (2, 521)
    assert clips["class_names"][7] == "class 7"
    banjo = str(CLIPS[1])
    assert blocks["paths"].tolist() == [banjo]  # the only clip longer than 3 s
    assert float(blocks["block_seconds"]) == 0.96 and float(blocks["hop_seconds"]) == 0.48
    patches = blocks["embeddings"]
    assert len(patches) == 7 and blocks["scores"].shape == (7, 521)  # 3.65 s: 1 + ceil((3.65 - 0.975) / 0.48)
    assert patches.std(axis=0).mean() > 0.01 * np.abs(patches).mean()  # the patches differ
    with torch.inference_mode():  # row i is patch i, starting at i * 0.48 s
        scores, embeddings, _ = model(torch.from_numpy(load_mono(banjo, 16000)))
    np.testing.assert_allclose(patches, embeddings.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(blocks["scores"], scores.numpy(), rtol=1e-5, atol=1e-6)
    row = clips["paths"].tolist().index(banjo)
    np.testing.assert_allclose(patches.mean(axis=0), clips["embeddings"][row], rtol=1e-5, atol=1e-6)
    # The trainer's crop-aware lookup: a crop of [0, 0.96) s overlaps patch 0 whole and patch 1 by half.
    targets = TeacherTargets(tmp_path / "yamnet_teacher.npz", tmp_path / "yamnet_teacher_blocks.npz")
    expected = (0.96 * patches[0] + 0.48 * patches[1]) / 1.44
    standardised, mask = targets.lookup([banjo], spans=[(0.0, 0.96)])
    assert mask.tolist() == [True]
    got = standardised[0].numpy() * targets.std + targets.mean
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_a_finished_run_resumes_without_recomputing(model: Yamnet, tmp_path: Path) -> None:
    if not CLIPS[0].is_file():
        pytest.skip(f"shared data {DATA} is not present (tests read ../shared/data in place)")
    rows = [{"audio": str(CLIPS[0]), "duration": 0.3}]
    yamnet_teacher.write_targets(model, rows, tmp_path, blocks_longer_than=None)
    before = (tmp_path / "yamnet_teacher.npz").read_bytes()
    calls = []
    original = yamnet_teacher.clip_row
    yamnet_teacher.clip_row = lambda *a: calls.append(a) or original(*a)
    try:
        yamnet_teacher.write_targets(model, rows, tmp_path, blocks_longer_than=None)
    finally:
        yamnet_teacher.clip_row = original
    assert calls == [] and (tmp_path / "yamnet_teacher.npz").read_bytes() == before
    assert not (tmp_path / "yamnet_teacher_blocks.npz").exists()
    assert json.dumps(np.load(tmp_path / "yamnet_teacher.npz")["paths"].tolist()) == json.dumps(
        [str(CLIPS[0])]
    )
