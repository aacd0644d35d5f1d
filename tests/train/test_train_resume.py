"""Kill-and-resume: a run SIGKILLed mid-epoch and resumed with ``--resume`` ends with bit-identical
weights (and logged losses) to an uninterrupted run with the same seed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from openclap.train.config import TrainConfig
from openclap.train.runner import train
from tests.train.tiny_runs import tiny_run, write_run

HERE = Path(__file__).parent
AUGMENT = {
    "gain_db": 6.0,
    "mix_prob": 0.5,
    "reverb_prob": 0.5,
    "noise_prob": 0.5,
    "time_masks": 1,
    "time_mask_frames": 10,
    "freq_masks": 1,
    "freq_mask_bins": 4,
}


CUDA = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _run_config(manifest: Path, out: Path, lit: bool, device: str) -> dict:
    # 20 clips / batch 4 = 5 batches per epoch; 8 steps span two epochs; step 3 is mid-epoch.
    # lit: a locked text tower, so text features come from the per-caption cache (empty after the kill)
    changes = {"freeze": {"text": True}} if lit else {}
    return tiny_run(manifest, out, max_steps=8, checkpoint_every=3, augment=AUGMENT, device=device, **changes)


def _train_losses(out: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if r["kind"] == "train"}


def _kill_after_checkpoint(config: Path, out: Path) -> None:
    marker = out.parent / "stalled"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "resume_stall_run.py"), str(config), "4", str(marker)]
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the training process exited before it stalled"
            assert time.monotonic() < deadline, "the training process never reached step 4"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)  # mid-epoch, one step after the step-3 checkpoint
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert json.loads((out / "checkpoints" / "latest.json").read_text())["step"] == 3
    assert not (out / "final").exists()


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
@pytest.mark.parametrize("lit", [False, True], ids=["all-trained", "locked-text-cached"])
def test_sigkill_then_resume_matches_uninterrupted_run(
    tone_manifest: Path, tmp_path: Path, lit: bool, device: str
) -> None:
    threads = torch.get_num_threads()
    try:
        run = _run_config(tone_manifest, tmp_path / "reference", lit, device)
        reference = train(TrainConfig.from_dict(run))
    finally:
        torch.set_num_threads(threads)
    assert reference.steps == 8

    out = tmp_path / "killed"
    config = write_run(tmp_path / "run.yaml", _run_config(tone_manifest, out, lit, device))
    _kill_after_checkpoint(config, out)
    resumed = subprocess.run(
        [sys.executable, "-m", "openclap.train.cli", "--config", str(config), "--resume"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stderr and "step 3" in resumed.stderr

    expected = load_file(reference.final_checkpoint / "model.safetensors")
    got = load_file(out / "final" / "model.safetensors")
    assert expected.keys() == got.keys()
    for key, tensor in expected.items():
        assert torch.equal(tensor, got[key]), f"{key} differs after resume"
    assert _train_losses(out) == _train_losses(tmp_path / "reference")  # steps 1..8, each logged once
