"""Text-space distillation (``distill.semantic``) on the tiny model: targets, loss and a training run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from openclap.data.manifest import read_manifest
from openclap.train.config import TrainConfig
from openclap.train.runner import train
from openclap.train.semantic import SemanticTargets, class_embeddings, semantic_loss
from tests.train.tiny_runs import tiny_run

CLASSES = ["dog barking", "rain", "siren", "bell"]


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _weights(manifest: Path, out: Path, skip: int = 2, texts: list[str] = CLASSES) -> Path:
    """Class weights for all but the first ``skip`` clips, keyed by paths relative to ``out``'s folder."""
    rows = [json.loads(line) for line in manifest.read_text().splitlines()][skip:]
    paths = [str(Path(manifest.parent.name) / r["audio"]) for r in rows]
    weights = np.random.default_rng(0).random((len(rows), len(CLASSES))).astype(np.float32)
    np.savez(out, paths=np.array(paths), embeddings=weights, class_texts=np.array(texts))
    return out


def test_targets_keep_weights_unstandardised_and_mask(tone_manifest: Path) -> None:
    npz = _weights(tone_manifest, tone_manifest.parent.parent / f"{tone_manifest.parent.name}-s1.npz")
    targets = SemanticTargets(npz)
    assert targets.class_texts == CLASSES
    entries = read_manifest(tone_manifest, split="train")
    got, mask = targets.lookup([e.audio for e in entries[:4]])
    assert mask.tolist() == [False, False, True, True]
    with np.load(npz) as data:
        assert np.allclose(got[2:].numpy(), data["embeddings"][:2])  # the file's values, not standardised


def test_loss_is_contrastive_over_the_valid_crops() -> None:
    classes = F.normalize(torch.randn(4, 8), dim=-1)
    weights = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.0] * 4])
    target = F.normalize(weights[:3] @ classes, dim=-1)
    scale = torch.tensor(np.log(20.0))
    mask = torch.ones(4, dtype=torch.bool)
    audio = torch.cat([target, torch.randn(1, 8)])  # row 3 has no weight: never counts
    logits = 20.0 * target @ target.T
    want = F.cross_entropy(logits, torch.arange(3))
    assert float(semantic_loss(audio, weights, classes, mask, scale)) == pytest.approx(float(want), rel=1e-5)
    swapped = audio[[1, 0, 2, 3]]  # each crop nearest another crop's target: a larger loss
    assert float(semantic_loss(swapped, weights, classes, mask, scale)) > float(want) + 1.0
    same = torch.tensor([[1.0, 0, 0, 0]] * 3 + [[0.0] * 4])  # identical targets cannot be told apart
    assert float(semantic_loss(audio, same, classes, mask, scale)) == pytest.approx(np.log(3), rel=1e-5)
    one = torch.tensor([True, False, False, False])  # fewer than two crops: no loss
    assert float(semantic_loss(audio, weights, classes, one, scale)) == 0.0
    half = float(semantic_loss(audio, weights, classes, mask, scale, count=6.0))
    assert half == pytest.approx(float(want) / 2, rel=1e-5)  # summed over 3 crops, divided by 6


def test_class_embeddings_average_templates_after_projection() -> None:
    proj = torch.nn.Linear(3, 5)
    features = torch.randn(2, 4, 3)
    got = class_embeddings(proj, features)
    each = [F.normalize(proj(features[t]), dim=-1) for t in range(2)]
    want = F.normalize(each[0] + each[1], dim=-1)
    assert got.shape == (4, 5) and torch.allclose(got, want, atol=1e-6)


def test_semantic_run_trains_and_resumes(tone_manifest: Path, tmp_path: Path) -> None:
    npz = _weights(tone_manifest, tone_manifest.parent.parent / f"{tone_manifest.parent.name}-s2.npz")
    out = tmp_path / "run"
    distill = {"semantic": str(npz), "semantic_weight": 2.0}
    run = tiny_run(tone_manifest, out, max_steps=3, distill=distill, freeze={"text": True})
    result = train(TrainConfig.from_dict(run))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [r["semantic_loss"] for r in rows if r["kind"] == "train"]
    assert losses and all(0.0 < value < np.log(4) + 0.5 for value in losses)  # batch 4
    assert "distill_loss" not in rows[-1]
    assert result.steps == 3
    assert train(TrainConfig.from_dict({**run, "max_steps": 4}), resume=True).steps == 4


def test_semantic_config_is_checked(tone_manifest: Path, tmp_path: Path) -> None:
    npz = _weights(tone_manifest, tmp_path / "s.npz")
    unlocked = tiny_run(tone_manifest, tmp_path / "a", distill={"semantic": str(npz)}, freeze={"text": False})
    with pytest.raises(ValueError, match="locked text tower"):
        train(TrainConfig.from_dict(unlocked))
    missing = tiny_run(tone_manifest, tmp_path / "b", distill={"semantic": str(tmp_path / "none.npz")},
                       freeze={"text": True})  # fmt: skip
    with pytest.raises(FileNotFoundError, match=r"semantic class weights \(distill\.semantic\) not found"):
        train(TrainConfig.from_dict(missing))
    with pytest.raises(FileNotFoundError, match=r"distill\.semantic_blocks\) not found"):
        SemanticTargets(npz, tmp_path / "none-blocks.npz")
    teacher = tmp_path / "teacher.npz"  # an embedding teacher given as semantic targets, with blocks
    np.savez(teacher, paths=np.array(["a.wav"]), embeddings=np.ones((1, 6), np.float32))
    with pytest.raises(ValueError, match=r"teacher\.npz: semantic targets need 'class_texts'"):
        SemanticTargets(teacher, tmp_path / "none-blocks.npz")
    short = _weights(tone_manifest, tmp_path / "short.npz", texts=CLASSES[:3])
    with pytest.raises(ValueError, match="class_texts"):
        SemanticTargets(short)
    negative = tmp_path / "neg.npz"
    np.savez(negative, paths=np.array(["a.wav"]), embeddings=-np.ones((1, 4), np.float32),
             class_texts=np.array(CLASSES))  # fmt: skip
    with pytest.raises(ValueError, match=">= 0"):
        SemanticTargets(negative)
    good = tmp_path / "good.npz"
    np.savez(good, paths=np.array(["a.wav"]), embeddings=np.ones((1, 4), np.float32),
             class_texts=np.array(CLASSES))  # fmt: skip
    bad_blocks = tmp_path / "neg-blocks.npz"
    np.savez(bad_blocks, paths=np.array(["a.wav"]), offsets=np.array([0, 2]),
             embeddings=-np.ones((2, 4), np.float32), block_seconds=1.0, hop_seconds=0.5)  # fmt: skip
    with pytest.raises(ValueError, match=r"neg-blocks\.npz: semantic block weights must be >= 0"):
        SemanticTargets(good, bad_blocks)
