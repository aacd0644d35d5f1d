"""train/state.py directly: what a save writes and in which order (fsync before rename, rename before
``latest.json``), pruning, saving a step again, and which folder ``latest_checkpoint`` picks."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from openclap.train import state as st
from openclap.train.state import (
    TrainState,
    is_complete,
    latest_checkpoint,
    load_train_checkpoint,
    prune_checkpoints,
    save_train_checkpoint,
)


@pytest.fixture()
def parts(tiny_model):
    optimizer = torch.optim.AdamW(tiny_model.parameters(), lr=1e-3)
    return tiny_model, optimizer, torch.amp.GradScaler("cuda", enabled=False)


def _save(root: Path, parts, step: int, keep: int = 2) -> Path:
    model, optimizer, scaler = parts
    return save_train_checkpoint(root, model, optimizer, scaler, TrainState(step=step), {"x": step}, keep)


def test_save_writes_a_complete_folder_and_points_latest_at_it(tmp_path: Path, parts) -> None:
    folder = _save(tmp_path, parts, 3)
    assert folder == tmp_path / "step-00000003" and is_complete(folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(st.COMPLETE)
    assert json.loads((tmp_path / "latest.json").read_text()) == {"folder": "step-00000003", "step": 3}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporaries left
    model, optimizer, scaler = parts
    state, trainer = load_train_checkpoint(folder, model, optimizer, scaler)
    assert state.step == 3 and trainer["x"] == 3


def test_save_fsyncs_every_file_and_the_folder_before_the_rename(
    tmp_path: Path, parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append(("replace", f"{src} -> {dst}"))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    _save(tmp_path, parts, 5)
    rename = next(
        i for i, (kind, what) in enumerate(events) if kind == "replace" and what.endswith("step-00000005")
    )
    tmp = events[rename][1].split(" -> ")[0]
    synced_before = [what for kind, what in events[:rename] if kind == "fsync"]
    assert tmp in synced_before, "the temporary folder is not fsynced before its rename"
    for name in st.COMPLETE:  # each file's content fsynced (under its temporary name) before the rename
        assert any(
            Path(p).parent == Path(tmp) and Path(p).name.startswith(f".{name}.") for p in synced_before
        ), name
    after = events[rename + 1 :]
    assert ("fsync", str(tmp_path)) in after, "the checkpoints folder is not fsynced after the rename"
    latest = next(
        i for i, (kind, what) in enumerate(after) if kind == "replace" and what.endswith("latest.json")
    )
    assert ("fsync", str(tmp_path)) in after[:latest], "latest.json moves before the rename is durable"


def test_prune_keeps_the_newest_and_clears_temporaries(tmp_path: Path, parts) -> None:
    for step in (1, 2, 3, 4):
        _save(tmp_path, parts, step, keep=2)
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-00000003", "step-00000004"]
    (tmp_path / ".step-00000009.tmp-1").mkdir()
    (tmp_path / ".step-00000001.del-1").mkdir()
    prune_checkpoints(tmp_path, keep=1, protect="step-00000003")  # the protected folder is never deleted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "step-00000003", "step-00000004"]
    prune_checkpoints(tmp_path, keep=1, protect="step-00000004")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "step-00000004"]


def test_saving_a_step_again_replaces_it_whole(tmp_path: Path, parts) -> None:
    _save(tmp_path, parts, 2)
    (tmp_path / "step-00000002" / "stray").write_text("x")
    _save(tmp_path, parts, 2)
    assert sorted(p.name for p in (tmp_path / "step-00000002").iterdir()) == sorted(st.COMPLETE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "step-00000002"]


def test_latest_checkpoint_falls_back_to_the_newest_complete_folder(tmp_path: Path, parts) -> None:
    assert latest_checkpoint(tmp_path) is None
    for step in (2, 4):
        _save(tmp_path, parts, step)
    assert latest_checkpoint(tmp_path) == tmp_path / "step-00000004"
    (tmp_path / "latest.json").unlink()  # killed before the first latest.json: the folder still counts
    assert latest_checkpoint(tmp_path) == tmp_path / "step-00000004"
    shutil.copytree(tmp_path / "step-00000004", tmp_path / "step-00000006")
    (tmp_path / "step-00000006" / st.STATE_FILE).unlink()  # an incomplete folder is never picked
    (tmp_path / "latest.json").write_text(json.dumps({"folder": "step-00000006", "step": 6}))
    assert latest_checkpoint(tmp_path) == tmp_path / "step-00000004"
    (tmp_path / "latest.json").write_text(json.dumps({"folder": "step-00000008", "step": 8}))  # gone
    assert latest_checkpoint(tmp_path) == tmp_path / "step-00000004"
    (tmp_path / "latest.json").write_text(json.dumps({"folder": "step-00000002", "step": 2}))
    assert latest_checkpoint(tmp_path) == tmp_path / "step-00000002"  # a complete pointer is obeyed


def test_kill_hook_is_inert_unless_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(st.KILL_ENV, raising=False)
    st._kill_point("prune-mid")
    monkeypatch.setenv(st.KILL_ENV, "checkpoint-before-rename:3")
    st._kill_point("prune-mid")  # another point: nothing happens
    st._kill_point("checkpoint-before-rename")  # 1st and 2nd of 3: nothing happens
    st._kill_point("checkpoint-before-rename")
    assert st._kills_seen["checkpoint-before-rename"] == 2
    st._kills_seen.clear()
