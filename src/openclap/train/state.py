"""Resumable training checkpoints, written atomically.

```
OUTPUT/checkpoints/step-00000120/   model.safetensors + config.json   (openclap checkpoint: weights)
                                    train_state.pt   optimiser, grad scaler, RNG states, schedule
                                    trainer.json     step, epoch, data position, best metric, run config
OUTPUT/checkpoints/latest.json      {"folder": "step-00000120", "step": 120}
```
A checkpoint folder is filled under a temporary name, its files and the folder fsynced, then renamed
into place, and only then does ``latest.json`` (itself replaced atomically) point at it. Folders leave
``step-*`` names only by an atomic rename to a hidden ``.del`` name before they are deleted (pruning, or a
step saved again), so every ``step-*`` folder is complete; should ``latest.json`` name a folder that is
gone (a kill while the same step was being saved again), ``latest_checkpoint`` takes the newest complete
one. A run killed at any instant therefore resumes from a complete checkpoint;
``tests/train/test_checkpoint_kill.py`` kills the trainer at each ``KILL_POINTS`` entry to show it.
``train_state.pt`` holds only tensors, dicts, lists, numbers and strings
and is read with ``torch.load(weights_only=True)``: nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from openclap.checkpoint import atomic_write, load_weights, save_checkpoint

LATEST = "latest.json"
STATE_FILE = "train_state.pt"
TRAINER_FILE = "trainer.json"
COMPLETE = ("model.safetensors", "config.json", STATE_FILE, TRAINER_FILE)

# Fault injection for the crash-safety tests: OPENCLAP_TEST_KILL_AT="point" or "point:N" SIGKILLs this
# process the N-th time (default 1) it reaches ``point``; unset, the check is one dictionary lookup.
KILL_ENV = "OPENCLAP_TEST_KILL_AT"
KILL_POINTS = (
    "checkpoint-between-files",  # the weights written into the temporary folder, train_state.pt not yet
    "checkpoint-before-rename",  # the temporary folder complete and fsynced
    "checkpoint-before-latest",  # renamed into place, latest.json still names the previous one
    "checkpoint-replacing",  # the same step saved again: the old folder moved aside, the new not yet in
    "prune-mid",  # an old folder moved aside for deletion and partly deleted
)
_kills_seen: dict[str, int] = {}


def _kill_point(name: str) -> None:
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point == name:
        _kills_seen[name] = _kills_seen.get(name, 0) + 1
        if _kills_seen[name] == int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class TrainState:
    """Progress counters saved with every checkpoint."""

    step: int = 0  # optimiser steps done
    epoch: int = 0
    batch_in_epoch: int = 0  # loader batches of ``epoch`` already consumed
    samples_seen: int = 0
    bad_clips: int = 0
    best_value: float | None = None
    best_step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        return cls(**{k: data[k] for k in asdict(cls()) if k in data})


# ----- RNG states as plain tensors / lists (weights_only-loadable) -------------------------------------
def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
        "python": {"version": py_version, "internal": list(py_internal), "gauss": py_gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    npy = state["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, npy["pos"], npy["has_gauss"], npy["gauss"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----- save / load ------------------------------------------------------------------------------------
def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_train_checkpoint(
    root: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    state: TrainState,
    extra: dict[str, Any],
    keep: int = 2,
    aux: nn.Module | None = None,
) -> Path:
    """Write ``root/step-NNNNNNNN`` atomically, point ``latest.json`` at it, prune old ones.

    ``aux``: trained modules outside the model (a distillation head), kept in ``train_state.pt``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{state.step:08d}"
    tmp = root / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    save_checkpoint(model, tmp, include_text=True, extra={"train_step": state.step})
    _kill_point("checkpoint-between-files")
    payload = {"optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(), "rng": rng_state()}
    if aux is not None:
        payload["aux"] = aux.state_dict()
    atomic_write(tmp / STATE_FILE, lambda p: torch.save(payload, p))
    trainer = {"state": state.to_dict(), **extra}
    atomic_write(tmp / TRAINER_FILE, lambda p: p.write_text(json.dumps(trainer, indent=1) + "\n"))
    _fsync_dir(tmp)  # the renames of its files are durable before the folder is
    _kill_point("checkpoint-before-rename")
    final = root / name
    if final.exists():  # the same step saved again (an interrupted attempt, or a resumed finished run)
        os.replace(final, _trash(final))
        _kill_point("checkpoint-replacing")
    os.replace(tmp, final)
    _fsync_dir(root)
    _kill_point("checkpoint-before-latest")
    latest = json.dumps({"folder": name, "step": state.step}) + "\n"
    atomic_write(root / LATEST, lambda p: p.write_text(latest))
    prune_checkpoints(root, keep, protect=name)
    return final


def _trash(folder: Path) -> Path:
    """A hidden name for a folder about to be deleted: it stops being a ``step-*`` folder atomically."""
    return folder.with_name(f".{folder.name}.del-{os.getpid()}")


def _remove(folder: Path) -> None:
    """Move a step folder out of the ``step-*`` names, then delete it."""
    trash = _trash(folder)
    os.replace(folder, trash)
    for item in sorted(trash.iterdir()):
        if item.is_dir():
            shutil.rmtree(item, ignore_errors=True)
        else:
            item.unlink()
        _kill_point("prune-mid")
    shutil.rmtree(trash, ignore_errors=True)


def prune_checkpoints(root: Path, keep: int, protect: str) -> None:
    """Delete all but the newest ``keep`` step folders (never ``protect``) and stale temporaries."""
    steps = sorted(p for p in root.glob("step-*") if p.is_dir())
    for old in steps[: max(0, len(steps) - max(keep, 1))]:
        if old.name != protect:
            _remove(old)
    for stale in [*root.glob(".step-*.tmp-*"), *root.glob(".step-*.del-*")]:
        shutil.rmtree(stale, ignore_errors=True)


def is_complete(folder: Path) -> bool:
    """A training checkpoint folder holding all of its files."""
    return all((folder / name).is_file() for name in COMPLETE)


def latest_checkpoint(root: str | os.PathLike[str]) -> Path | None:
    """The folder named by ``latest.json``; if that one is incomplete or gone, the newest complete
    ``step-*`` folder; None when there is no complete checkpoint."""
    root = Path(root)
    pointer = root / LATEST
    if pointer.is_file():
        folder = root / json.loads(pointer.read_text())["folder"]
        if is_complete(folder):
            return folder
    complete = [p for p in sorted(root.glob("step-*"), reverse=True) if p.is_dir() and is_complete(p)]
    return complete[0] if complete else None


def load_train_checkpoint(
    folder: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    aux: nn.Module | None = None,
) -> tuple[TrainState, dict[str, Any]]:
    """Restore weights, optimiser, scaler and RNG states; return the progress and the trainer.json."""
    load_weights(model, folder)
    payload = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    if aux is not None:
        if "aux" not in payload:
            raise ValueError(f"{folder}: the checkpoint holds no distillation head to resume")
        aux.load_state_dict(payload["aux"])
    optimizer.load_state_dict(payload["optimizer"])
    scaler.load_state_dict(payload["scaler"])
    set_rng_state(payload["rng"])
    trainer = json.loads((folder / TRAINER_FILE).read_text())
    return TrainState.from_dict(trainer["state"]), trainer


def save_model_folder(model: nn.Module, folder: str | os.PathLike[str], info: dict[str, Any]) -> Path:
    """Replace ``folder`` with a fresh openclap checkpoint (used for ``best/`` and ``final/``)."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    save_checkpoint(model, tmp, include_text=True, extra=info)
    atomic_write(tmp / "metrics.json", lambda p: p.write_text(json.dumps(info, indent=1) + "\n"))
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder
