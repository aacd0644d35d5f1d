"""Crash safety of checkpoint saving: the trainer, a real subprocess, is SIGKILLed at every point inside
``save_train_checkpoint`` and pruning (``openclap.train.state.KILL_POINTS``, reached through the
``OPENCLAP_TEST_KILL_AT`` hook), one after another on the same output folder; after each kill
``latest_checkpoint`` names a complete checkpoint at the expected step, ``--resume`` continues from it,
and the run ends with the weights of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from openclap.train.config import TrainConfig
from openclap.train.runner import train
from openclap.train.state import KILL_ENV, KILL_POINTS, is_complete, latest_checkpoint
from tests.train.tiny_runs import tiny_run, write_run

# max_steps 8, a checkpoint every 2 steps, 2 kept: saves at 2, 4, 6, 8; the save of 6 prunes step 2.
# (kill point, resumed-from step seen by that run, latest complete step after the kill)
CHAIN = [
    ("checkpoint-between-files:2", None, 2),  # killed writing step 4
    ("checkpoint-before-rename:2", 2, 4),  # step 4 saved, killed before renaming step 6
    ("prune-mid:1", 4, 6),  # step 6 saved, killed deleting step 2
    ("checkpoint-before-latest:1", 6, 6),  # step 8 renamed in, latest.json still at 6
    (None, 6, 8),  # step 8 saved again over the stray one, finished
    ("checkpoint-replacing:1", 8, 6),  # --resume of the finished run re-saves 8: killed mid-swap
    (None, 6, 8),  # resumes from the newest complete folder and finishes
]


def _train(config: Path, kill_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    if kill_at:
        env[KILL_ENV] = kill_at
    command = [sys.executable, "-m", "openclap.train.cli", "--config", str(config), "--resume"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_kills_inside_checkpoint_saving_always_resume_to_the_same_weights(
    tone_manifest: Path, tmp_path: Path
) -> None:
    assert {p.split(":")[0] for p, _, _ in CHAIN if p} == set(KILL_POINTS)
    changes = {"max_steps": 8, "checkpoint_every": 2, "keep_checkpoints": 2}
    threads = torch.get_num_threads()
    try:
        reference = train(TrainConfig.from_dict(tiny_run(tone_manifest, tmp_path / "reference", **changes)))
    finally:
        torch.set_num_threads(threads)

    out = tmp_path / "killed"
    config = write_run(tmp_path / "run.yaml", tiny_run(tone_manifest, out, **changes))
    for kill_at, resumed_from, latest_step in CHAIN:
        done = _train(config, kill_at)
        if kill_at:
            assert done.returncode == -signal.SIGKILL, (kill_at, done.stderr[-2000:])
        else:
            assert done.returncode == 0, done.stderr[-2000:]
        if resumed_from is not None:
            assert f"(step {resumed_from}," in done.stderr, (kill_at, done.stderr[-2000:])
        latest = latest_checkpoint(out / "checkpoints")
        assert latest is not None and latest.name == f"step-{latest_step:08d}", (kill_at, latest)
        assert is_complete(latest)
        assert all(is_complete(p) for p in (out / "checkpoints").glob("step-*")), kill_at

    expected = load_file(reference.final_checkpoint / "model.safetensors")
    got = load_file(out / "final" / "model.safetensors")
    assert expected.keys() == got.keys()
    for key, tensor in expected.items():
        assert torch.equal(tensor, got[key]), f"{key} differs after the kills and resumes"
