"""End-to-end runs of the trainer on the tiny model (a few steps each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from openclap.factory import create_model
from openclap.loss import ClapLoss
from openclap.model import ClapModel
from openclap.registry import get_config
from openclap.train.config import TrainConfig
from openclap.train.loop import NonFiniteLossError
from openclap.train.runner import train
from tests.train.tiny_runs import tiny_run


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_run_writes_logs_checkpoints_and_skips_bad_clips(bad_tone_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run = tiny_run(bad_tone_manifest, out, eval_every=3, eval_at_start=True, tensorboard=True, plot=True)
    result = train(TrainConfig.from_dict(run))
    assert result.steps == 6
    assert {"val/t2a_r1", "val/a2t_r10", "val/mean_r1", "val/zs_acc"} <= set(result.metrics)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in rows if r["kind"] == "eval"] == [0, 3, 6]
    assert train_rows[-1]["bad_clips"] >= 1  # the corrupt and the missing file were skipped, not fatal
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in train_rows)
    for name in ("train_metrics.csv", "eval_metrics.csv", "curves.png", "run.yaml"):
        assert (out / name).is_file(), name
    assert any((out / "tensorboard").iterdir())
    assert json.loads((out / "checkpoints" / "latest.json").read_text())["step"] == 6
    assert json.loads((out / "best" / "metrics.json").read_text())["step"] == result.best_step
    model = create_model(checkpoint=out / "final")  # a normal openclap checkpoint
    assert model.config.name == "tiny-test"


def test_refuses_to_overwrite_a_run_without_resume(tone_manifest: Path, tmp_path: Path) -> None:
    run = tiny_run(tone_manifest, tmp_path / "run", max_steps=3)
    train(TrainConfig.from_dict(run))
    with pytest.raises(ValueError, match="--resume"):
        train(TrainConfig.from_dict(run))
    again = train(TrainConfig.from_dict(run), resume=True)  # already finished: nothing left to do
    assert again.steps == 3


def test_bf16_accumulation_lit_freezing_and_augmentation(tone_manifest: Path, tmp_path: Path) -> None:
    run = tiny_run(
        tone_manifest,
        tmp_path / "run",
        max_steps=2,
        precision="bf16",
        model_overrides={"separate_logit_scales": True},
        freeze={"text": True, "audio_layers": 1},
        optim={"grad_accum_steps": 2, "audio_lr": 5e-3, "clip_grad_norm": 0.5},
        augment={
            "gain_db": 6.0,
            "mix_prob": 0.5,
            "reverb_prob": 0.5,
            "noise_prob": 0.5,
            "time_masks": 2,
            "time_mask_frames": 10,
            "freq_masks": 1,
            "freq_mask_bins": 4,
        },
    )
    result = train(TrainConfig.from_dict(run))
    torch.manual_seed(7)  # the run's seed: the trainer builds the model right after seeding
    start = ClapModel(get_config("tiny-test").replace(separate_logit_scales=True))
    final = load_file(result.final_checkpoint / "model.safetensors")
    initial = {k: v for k, v in start.state_dict().items() if k in final}
    text_keys = [k for k in final if k.startswith("text_encoder.")]
    lower = [k for k in final if k.startswith("audio_encoder.bn0.")]
    assert text_keys and all(torch.equal(final[k], initial[k]) for k in text_keys + lower)
    assert not torch.equal(
        final["audio_projection.linear1.weight"], initial["audio_projection.linear1.weight"]
    )
    assert not torch.equal(final["text_projection.linear1.weight"], initial["text_projection.linear1.weight"])
    assert "logit_scale_t" in final


def test_non_finite_loss_stops_with_step_and_files(
    tone_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    original = ClapLoss._loss

    def poisoned(self, *args):
        calls["n"] += 1
        loss = original(self, *args)
        return loss * float("nan") if calls["n"] == 2 else loss

    monkeypatch.setattr(ClapLoss, "_loss", poisoned)
    run = tiny_run(tone_manifest, tmp_path / "run", max_steps=4, checkpoint_every=1)
    with pytest.raises(NonFiniteLossError, match=r"at step 2 \(epoch 0\).*clip\d+\.flac"):
        train(TrainConfig.from_dict(run))
    # the step-1 checkpoint is intact and the bad step was never applied
    assert json.loads((tmp_path / "run" / "checkpoints" / "latest.json").read_text())["step"] == 1


def test_trains_from_webdataset_shards(tone_manifest: Path, tmp_path: Path) -> None:
    from openclap.data.manifest import read_manifest
    from openclap.data.shards import write_shards

    write_shards(read_manifest(tone_manifest, split="train"), tmp_path / "shards", samples_per_shard=5)
    data = {
        "train_manifest": None,
        "train_shards": str(tmp_path / "shards"),
        "val_manifest": str(tone_manifest),
    }
    run = tiny_run(tone_manifest, tmp_path / "run", max_steps=3, data=data)
    result = train(TrainConfig.from_dict(run))
    assert result.steps == 3 and "val/t2a_r1" in result.metrics


def test_train_cli_registration(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from openclap.train.cli import register_cli

    parser = argparse.ArgumentParser(prog="openclap")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", "--config", "run.yaml", "--resume", "--set", "max_steps=5"])
    assert (args.config, args.resume, args.set) == ("run.yaml", True, ["max_steps=5"])
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    assert "torchrun" in capsys.readouterr().out


def test_snapshots_keep_the_model_at_every_nth_step(tone_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(TrainConfig.from_dict(tiny_run(tone_manifest, out, snapshot_every=2, keep_checkpoints=1)))
    snaps = sorted(p.name for p in (out / "snapshots").iterdir())
    assert snaps == ["step-00000002", "step-00000004", "step-00000006"]  # never pruned
    assert [p.name for p in (out / "checkpoints").glob("step-*")] == ["step-00000006"]
    last = load_file(str(out / "snapshots" / "step-00000006" / "model.safetensors"))
    final = load_file(str(out / "final" / "model.safetensors"))
    assert last.keys() == final.keys() and all(torch.equal(last[k], final[k]) for k in final)
    first = load_file(str(out / "snapshots" / "step-00000002" / "model.safetensors"))
    assert any(not torch.equal(first[k], last[k]) for k in last)  # four steps apart: trained further
    assert create_model(checkpoint=out / "snapshots" / "step-00000004").config.name == "tiny-test"
    with pytest.raises(ValueError, match="snapshot_every"):
        TrainConfig.from_dict(tiny_run(tone_manifest, out, snapshot_every=-1))
