"""Synthetic audio-caption data and tiny run configs for the trainer tests (no shared data needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import yaml

SAMPLE_RATE = 16000
CLASSES = {"low": 220.0, "mid": 660.0, "high": 1980.0, "buzz": 0.0}


def _clip(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    if kind == "buzz":
        wave = rng.standard_normal(t.size) * 0.2
    else:
        wave = 0.4 * np.sin(2 * np.pi * CLASSES[kind] * (1 + 0.05 * rng.standard_normal()) * t)
    return wave.astype(np.float32)


def write_tone_manifest(folder: Path, n_train: int = 20, n_val: int = 8, bad: bool = False) -> Path:
    """Tones and noise with captions; ``bad`` adds a corrupt and a missing file to the train split."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    kinds = list(CLASSES)
    for i in range(n_train + n_val):
        kind = kinds[i % len(kinds)]
        path = folder / f"clip{i:03d}.flac"
        sf.write(path, _clip(kind, 0.6 + 0.1 * (i % 7), rng), SAMPLE_RATE)
        captions = [f"a {kind} sound", f"clip number {i} of a {kind} signal"]
        rows.append(
            {
                "audio": path.name,
                "captions": captions,
                "labels": [kind],
                "split": "train" if i < n_train else "val",
            }
        )
    if bad:
        (folder / "corrupt.flac").write_bytes(b"not audio at all" * 10)
        rows.insert(3, {"audio": "corrupt.flac", "captions": ["broken"], "split": "train"})
        rows.insert(7, {"audio": "missing.flac", "captions": ["gone"], "split": "train"})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


def tiny_run(manifest: Path, output_dir: Path, **changes: Any) -> dict[str, Any]:
    """A run config dict for the tiny-test model: a handful of steps, one thread, no extras."""
    run: dict[str, Any] = {
        "output_dir": str(output_dir),
        "model": "tiny-test",
        "seed": 7,
        "batch_size": 4,
        "max_steps": 6,
        "threads": 1,
        "eval_every": 0,
        "eval_at_start": False,
        "checkpoint_every": 3,
        "log_every": 1,
        "tensorboard": False,
        "plot": False,
        "progress": False,
        "data": {"train_manifest": str(manifest)},
        "optim": {"lr": 1e-3, "warmup_steps": 2},
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(run.get(key), dict):
            run[key] = {**run[key], **value}
        else:
            run[key] = value
    return run


def write_run(path: Path, run: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(run))
    return path


def pending_gradients(loop: Any) -> dict[str, torch.Tensor]:
    """Copies of the gradients a ``TrainLoop`` is about to apply (the distillation head's as
    ``distill_head.*``), for comparing runs."""
    grads: dict[str, torch.Tensor] = {}
    head = getattr(getattr(loop.p.module, "module", loop.p.module), "distill_head", None)
    for prefix, module in (("", loop.p.model), ("distill_head.", head)):
        for name, param in module.named_parameters() if module is not None else ():
            if param.grad is not None:
                grads[prefix + name] = param.grad.detach().clone()
    return grads
