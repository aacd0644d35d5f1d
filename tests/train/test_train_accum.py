"""Gradient accumulation enlarges the contrastive batch: batch 2 x 4 micro-steps gives the gradient of one
batch of 8 (same clips, same initial weights), the distillation term included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from openclap.train.config import TrainConfig
from openclap.train.loop import TrainLoop
from openclap.train.runner import train
from tests.train.tiny_runs import tiny_run

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


def _one_step_gradients(
    manifest: Path, out: Path, monkeypatch: pytest.MonkeyPatch, batch: int, accum: int, teacher: Path
) -> dict[str, torch.Tensor]:
    """The gradients the optimiser receives at the first step of a real tiny run."""
    grads: dict[str, torch.Tensor] = {}

    def capture(self: TrainLoop) -> float:
        modules = [self.p.model, getattr(self.p.module, "distill_head", None)]
        for prefix, module in zip(("", "distill_head."), modules, strict=True):
            for name, param in module.named_parameters():
                if param.grad is not None:
                    grads[prefix + name] = param.grad.detach().clone()
        return APPLY_GRADIENTS(self)

    monkeypatch.setattr(TrainLoop, "_apply_gradients", capture)
    run = tiny_run(
        manifest,
        out,
        batch_size=batch,
        max_steps=1,
        checkpoint_every=0,
        model_overrides=NO_DROPOUT,
        freeze={"batchnorm": True},
        data={"train_manifest": str(manifest), "val_split": None},
        optim={"grad_accum_steps": accum, "lr": 1e-3, "warmup_steps": 1},
        distill={"teacher": str(teacher), "weight": 0.5},
    )
    train(TrainConfig.from_dict(run))
    return grads


def test_accumulated_micro_batches_give_the_large_batch_gradient(
    tone_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    teacher = _teacher(tone_manifest, tmp_path / "teacher.npz")
    large = _one_step_gradients(tone_manifest, tmp_path / "large", monkeypatch, 8, 1, teacher)
    accumulated = _one_step_gradients(tone_manifest, tmp_path / "accum", monkeypatch, 2, 4, teacher)
    assert large.keys() == accumulated.keys()
    assert {"logit_scale", "distill_head.weight", "audio_encoder.fc.weight"} <= large.keys()
    assert "text_encoder.model.embeddings.word_embeddings.weight" in large
    floor = 1e-6 * max(float(g.abs().max()) for g in large.values())  # analytically zero: attention key bias
    for name, want in large.items():
        scale = max(float(want.abs().max()), floor)
        error = float((accumulated[name] - want).abs().max())
        assert error <= RTOL * scale, f"{name}: max error {error:.3g} vs largest entry {scale:.3g}"
