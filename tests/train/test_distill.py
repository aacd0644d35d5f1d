"""Distillation from precomputed teacher embeddings (``TrainConfig.distill``) on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from openclap.data.manifest import read_manifest
from openclap.factory import create_model
from openclap.train.augment import mix_pairs, mix_pairs_marked
from openclap.train.config import TrainConfig
from openclap.train.distill import TeacherTargets, distill_loss
from openclap.train.runner import train
from tests.train.tiny_runs import tiny_run


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _teacher(manifest: Path, out: Path, dim: int = 6, skip: int = 2) -> Path:
    """Teacher embeddings for all but the first ``skip`` clips, keyed by relative paths."""
    rows = [json.loads(line) for line in manifest.read_text().splitlines()][skip:]
    rng = np.random.default_rng(0)
    paths = [str(Path(manifest.parent.name) / r["audio"]) for r in rows]  # relative to out's folder
    emb = rng.standard_normal((len(rows), dim)).astype(np.float32) * 3 + 1
    np.savez(out, paths=np.array(paths, dtype=np.str_), embeddings=emb)
    return out


def test_teacher_targets_lookup_standardises_and_masks(tone_manifest: Path) -> None:
    npz = _teacher(tone_manifest, tone_manifest.parent.parent / f"{tone_manifest.parent.name}-t.npz")
    targets = TeacherTargets(npz)
    assert targets.dim == 6
    assert torch.allclose(targets.embeddings.mean(0), torch.zeros(6), atol=1e-5)
    entries = read_manifest(tone_manifest, split="train")
    got, mask = targets.lookup([e.audio for e in entries[:4]])
    assert mask.tolist() == [False, False, True, True] and got.shape == (4, 6)
    pred = got.clone()
    pred[0] = 5.0  # a clip without a target never counts
    assert float(distill_loss(pred, got, mask, "cosine")) == pytest.approx(0.0, abs=1e-6)
    assert float(distill_loss(pred, got, mask, "mse")) == pytest.approx(0.0, abs=1e-6)
    assert float(distill_loss(pred, got, torch.zeros(4, dtype=torch.bool), "mse")) == 0.0
    with pytest.raises(ValueError, match=r"distill\.loss"):
        distill_loss(pred, got, mask, "l1")


def _blocks(teacher: Path, out: Path, blocks_per_clip: int = 3) -> Path:
    """Per-block embeddings whose mean is each clip's teacher embedding (block 1.0 s, hop 0.5 s)."""
    with np.load(teacher) as data:
        paths, emb = data["paths"], data["embeddings"]
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((len(paths), blocks_per_clip, emb.shape[1])).astype(np.float32)
    noise -= noise.mean(axis=1, keepdims=True)
    rows = (emb[:, None, :] + noise).reshape(-1, emb.shape[1])
    offsets = np.arange(len(paths) + 1) * blocks_per_clip
    np.savez(out, paths=paths, offsets=offsets, embeddings=rows, block_seconds=1.0, hop_seconds=0.5)
    return out


def test_span_targets_weigh_the_blocks_a_crop_overlaps(tone_manifest: Path) -> None:
    root = tone_manifest.parent.parent
    npz = _teacher(tone_manifest, root / f"{tone_manifest.parent.name}-t3.npz")
    targets = TeacherTargets(npz, _blocks(npz, root / f"{tone_manifest.parent.name}-b3.npz"))
    entries = read_manifest(tone_manifest, split="train")
    path = entries[3].audio
    key = str(Path(path).resolve())
    blocks = (targets.blocks[key] - targets.mean) / targets.std  # blocks start at 0, 0.5 and 1.0 s
    whole, _ = targets.lookup([path])
    covering, _ = targets.lookup([path], [(0.0, 2.0)])  # every block fully: the clip's own target
    assert torch.allclose(covering, whole, atol=1e-5)
    first, mask = targets.lookup([path], [(0.0, 0.5)])  # only block 0 (1 s long) from 0 to 0.5 s
    assert mask.tolist() == [True] and np.allclose(first[0].numpy(), blocks[0], atol=1e-5)
    part, _ = targets.lookup([path], [(0.25, 0.75)])  # block 0: 0.5 s, block 1: 0.25 s
    assert np.allclose(part[0].numpy(), (2 * blocks[0] + blocks[1]) / 3, atol=1e-5)
    beyond, _ = targets.lookup([path], [(5.0, 6.0)])  # past the blocks: the clip target
    assert torch.allclose(beyond, whole, atol=1e-6)
    _, mask = targets.lookup([entries[0].audio], [(0.0, 0.5)])  # no teacher at all
    assert mask.tolist() == [False]
    bad = root / "bad-blocks.npz"
    np.savez(bad, paths=np.array(["x"]), offsets=np.array([0, 2]), embeddings=np.zeros((1, 6)),
             block_seconds=1.0, hop_seconds=0.5)
    with pytest.raises(ValueError, match="offsets"):
        TeacherTargets(npz, bad)
    with pytest.raises(FileNotFoundError, match=r"distill\.blocks"):
        TeacherTargets(npz, root / "missing.npz")


def test_mix_pairs_marked_matches_mix_pairs() -> None:
    wave = torch.randn(6, 100)
    captions = [f"c{i}" for i in range(6)]
    plain = mix_pairs(wave, captions, 0.5, " and ", torch.Generator().manual_seed(3))
    marked, caps, mixed = mix_pairs_marked(wave, captions, 0.5, " and ", torch.Generator().manual_seed(3))
    assert torch.equal(plain[0], marked) and plain[1] == caps
    assert mixed.tolist() == [" and " in c for c in caps]


def test_distill_run_trains_head_saves_it_in_checkpoints_only_and_resumes(
    tone_manifest: Path, tmp_path: Path
) -> None:
    npz = _teacher(tone_manifest, tone_manifest.parent.parent / f"{tone_manifest.parent.name}-t2.npz")
    out = tmp_path / "run"
    distill = {"teacher": str(npz), "weight": 2.0, "loss": "mse"}
    run = tiny_run(tone_manifest, out, max_steps=3, distill=distill, augment={"mix_prob": 0.5})
    first = train(TrainConfig.from_dict(run))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert all(np.isfinite(r["distill_loss"]) and r["distill_loss"] > 0 for r in train_rows)
    state = torch.load(out / "checkpoints" / "step-00000003" / "train_state.pt", weights_only=True)
    assert set(state["aux"]) == {"weight", "bias"}  # the head, [teacher dim, audio feature dim]
    assert state["aux"]["weight"].shape[0] == 6
    for folder in (out / "final", out / "checkpoints" / "step-00000003"):
        assert not any("distill" in k for k in load_file(folder / "model.safetensors"))
    create_model(checkpoint=out / "final")  # a plain openclap checkpoint
    assert first.steps == 3
    longer = train(TrainConfig.from_dict({**run, "max_steps": 5}), resume=True)
    assert longer.steps == 5


def test_distill_run_with_block_targets(tone_manifest: Path, tmp_path: Path) -> None:
    root = tone_manifest.parent.parent
    npz = _teacher(tone_manifest, root / f"{tone_manifest.parent.name}-t4.npz")
    blocks = _blocks(npz, root / f"{tone_manifest.parent.name}-b4.npz")
    out = tmp_path / "run"
    distill = {"teacher": str(npz), "blocks": str(blocks), "weight": 1.0}
    train(TrainConfig.from_dict(tiny_run(tone_manifest, out, max_steps=2, distill=distill)))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["distill_loss"]) and r["distill_loss"] > 0 for r in rows if r["kind"] == "train")


def test_distill_config_is_checked(tone_manifest: Path, tmp_path: Path) -> None:
    run = tiny_run(tone_manifest, tmp_path / "run", distill={"teacher": str(tmp_path / "none.npz")})
    with pytest.raises(FileNotFoundError, match=r"distill\.teacher"):
        train(TrainConfig.from_dict(run))
    with pytest.raises(ValueError, match="unknown keys"):
        TrainConfig.from_dict(tiny_run(tone_manifest, tmp_path / "r", distill={"teachr": "x"}))
