"""A real 2-process gloo DDP training of the tiny model: both ranks end with identical weights, the
weights moved, and only rank 0 wrote the run's files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from tests.train.tiny_runs import tiny_run, write_run

HERE = Path(__file__).parent


def test_two_process_gloo_training_keeps_ranks_identical(tone_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run = tiny_run(
        tone_manifest,
        out,
        max_steps=4,
        checkpoint_every=2,
        eval_every=2,
        augment={"gain_db": 3.0, "time_masks": 1, "time_mask_frames": 8},
    )
    config = write_run(tmp_path / "run.yaml", run)
    weights = tmp_path / "weights"
    weights.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(HERE / "ddp_train_run.py"),
        str(config),
        str(weights),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]

    rank0, rank1 = (load_file(weights / f"rank{r}.safetensors") for r in range(2))
    for key, tensor in rank0.items():
        assert torch.equal(tensor, rank1[key]), f"{key} differs between ranks"
    final = load_file(out / "final" / "model.safetensors")
    assert all(torch.equal(final[k], rank0[k]) for k in final)
    start = load_file(sorted((out / "checkpoints").glob("step-*"))[0] / "model.safetensors")
    assert any(not torch.equal(start[k], final[k]) for k in final)
    assert (out / "metrics.jsonl").is_file() and "[rank 1]" not in proc.stdout
    env = json.loads((out / "environment.json").read_text())
    assert env["backend"] == "gloo" and env["world_size"] == 2 and env["device"] == "cpu"
    text = (out / "train_metrics.csv").read_text().splitlines()
    assert len(text) == 1 + 4  # header + one row per step, written once (by rank 0)
