"""Gradient accumulation enlarges the contrastive batch: batch 2 x 4 micro-steps gives the gradient of one
batch of 8 (same clips, same initial weights), the distillation term included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from openclap.loss import ClapLoss
from openclap.train.config import TrainConfig
from openclap.train.loop import TrainLoop
from openclap.train.runner import train
from tests.train.tiny_runs import pending_gradients, tiny_run, write_run

# dropout draws differ between one batch of 8 and four of 2, so it is off; BatchNorm in eval mode
# (``freeze.batchnorm``) so that micro-batch statistics do not enter (see openclap.train.accum)
NO_DROPOUT = {
    "audio_encoder": {"params": {"dropout": 0.0}},
    "text_encoder": {"hf_config": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}},
}
RTOL = 1e-4  # of each parameter's largest gradient entry (float32 rounding reaches ~2e-5)
APPLY_GRADIENTS = TrainLoop._apply_gradients


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _teacher(manifest: Path, out: Path) -> Path:
    """Teacher embeddings for two clips in three, so micro-batches hold different numbers of targets."""
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    paths = [str(manifest.parent / r["audio"]) for i, r in enumerate(rows) if i % 3]
    emb = np.random.default_rng(1).standard_normal((len(paths), 6)).astype(np.float32)
    np.savez(out, paths=np.array(paths, dtype=np.str_), embeddings=emb)
    return out


def _exact_run(manifest: Path, out: Path, batch: int, accum: int, **changes: Any) -> dict[str, Any]:
    """One optimiser step without random draws that depend on the batch split (no dropout, no
    augmentation, BatchNorm in eval mode) and without validation."""
    return tiny_run(
        manifest,
        out,
        batch_size=batch,
        max_steps=1,
        checkpoint_every=0,
        model_overrides=NO_DROPOUT,
        freeze={"batchnorm": True},
        data={"train_manifest": str(manifest), "val_split": None},
        optim={"grad_accum_steps": accum, "lr": 1e-3, "warmup_steps": 1},
        **changes,
    )


def _one_step_gradients(
    manifest: Path, out: Path, monkeypatch: pytest.MonkeyPatch, batch: int, accum: int, teacher: Path
) -> dict[str, torch.Tensor]:
    """The gradients the optimiser receives at the first step of a real tiny run."""
    grads: dict[str, torch.Tensor] = {}

    def capture(self: TrainLoop) -> float:
        grads.update(pending_gradients(self))
        return APPLY_GRADIENTS(self)

    monkeypatch.setattr(TrainLoop, "_apply_gradients", capture)
    run = _exact_run(manifest, out, batch, accum, distill={"teacher": str(teacher), "weight": 0.5})
    train(TrainConfig.from_dict(run))
    return grads


def test_accumulated_micro_batches_give_the_large_batch_gradient(
    tone_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    teacher = _teacher(tone_manifest, tmp_path / "teacher.npz")
    large = _one_step_gradients(tone_manifest, tmp_path / "large", monkeypatch, 8, 1, teacher)
    accumulated = _one_step_gradients(tone_manifest, tmp_path / "accum", monkeypatch, 2, 4, teacher)
    assert {"logit_scale", "distill_head.weight", "audio_encoder.fc.weight"} <= large.keys()
    assert "text_encoder.model.embeddings.word_embeddings.weight" in large
    _check_close(accumulated, large)


def test_cached_and_gradient_passes_see_the_same_draws(
    tone_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With dropout, SpecAugment, mixing and train-mode BatchNorm on, every gradient pass of a step
    scores the same accumulated batch (its fresh slice equals the cached one), and the cached pass
    leaves BatchNorm's running statistics alone (updated once per micro-batch)."""
    losses: list[float] = []
    original = ClapLoss.forward

    def record(self: ClapLoss, *args: torch.Tensor) -> torch.Tensor:
        loss = original(self, *args)
        losses.append(float(loss.detach()))
        return loss

    monkeypatch.setattr(ClapLoss, "forward", record)
    run = tiny_run(
        tone_manifest,
        tmp_path / "run",
        batch_size=2,
        max_steps=1,
        checkpoint_every=0,
        data={"train_manifest": str(tone_manifest), "val_split": None},
        optim={"grad_accum_steps": 4},
        augment={"mix_prob": 0.5, "gain_db": 6.0, "time_masks": 1, "time_mask_frames": 8},
    )
    result = train(TrainConfig.from_dict(run))
    assert len(losses) == 4
    assert max(losses) - min(losses) <= 1e-6 * abs(losses[0]), losses
    assert int(result.model.audio_encoder.bn0.num_batches_tracked) == 4


def _check_close(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert got.keys() == want.keys()
    floor = 1e-6 * max(float(g.abs().max()) for g in want.values())  # analytically zero: attention key bias
    for name, expected in want.items():
        scale = max(float(expected.abs().max()), floor)
        error = float((got[name] - expected).abs().max())
        assert error <= RTOL * scale, f"{name}: max error {error:.3g} vs largest entry {scale:.3g}"


@pytest.mark.slow
def test_two_ranks_accumulating_give_the_single_process_large_batch_gradient(
    tone_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 gloo ranks x batch 2 x 2 micro-steps hold the same 8 clips as one process's batch of 8
    (ranks take every other clip of the epoch's order): after DDP's averaging, the same gradient."""
    grads: dict[str, torch.Tensor] = {}

    def capture(self: TrainLoop) -> float:
        grads.update(pending_gradients(self))
        return APPLY_GRADIENTS(self)

    monkeypatch.setattr(TrainLoop, "_apply_gradients", capture)
    train(TrainConfig.from_dict(_exact_run(tone_manifest, tmp_path / "large", 8, 1)))
    config = write_run(tmp_path / "ddp.yaml", _exact_run(tone_manifest, tmp_path / "ddp", 2, 2))
    script = Path(__file__).parent / "ddp_train_run.py"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(
        [*cmd, str(script), str(config), str(tmp_path), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    for rank in range(2):
        _check_close(load_file(tmp_path / f"grads-rank{rank}.safetensors"), grads)
