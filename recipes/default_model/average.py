"""Average the weights of several checkpoints of one run (tail averaging) into one checkpoint folder.

Averaging the last checkpoints of a run whose learning rate has decayed (Izmailov et al. 2018, "Averaging
Weights Leads to Wider Optima and Better Generalization") is free: no training, one file out. Every float
tensor (weights, BatchNorm running means and variances, the temperature) is the mean over the inputs;
integer counters (``num_batches_tracked``) are taken from the last input. The inputs must share one
config and one set of keys and shapes; the output folder (``model.safetensors`` + ``config.json``) loads
wherever a trainer checkpoint does (``create_model(checkpoint=...)``, ``export.py``, ``val_zero_shot.py``).

The trainer prunes its checkpoints to ``keep_checkpoints``; run it with ``snapshot_every: N`` to keep the
model every N steps in ``RUN/snapshots/`` for this. Usage:
    .venv/bin/python recipes/default_model/average.py runs/R/snapshots/step-00010000 ... --out runs/R/tail
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file

from openclap.checkpoint import (
    WEIGHTS_NAME,
    CheckpointError,
    read_metadata,
    weights_path,
    write_checkpoint_files,
)


def average_checkpoints(inputs: list[Path], out: Path) -> Path:
    """Write the mean of ``inputs``' weights to ``out/model.safetensors`` (+ ``config.json``)."""
    if len(inputs) < 2:
        raise CheckpointError("averaging needs at least two checkpoints")
    metas = [read_metadata(path) for path in inputs]
    for path, meta in zip(inputs[1:], metas[1:], strict=True):
        if meta["config"] != metas[0]["config"]:
            raise CheckpointError(
                f"{weights_path(path)}: its config differs from {weights_path(inputs[0])}'s"
            )
    states = [load_file(str(weights_path(path))) for path in inputs]
    first = states[0]
    for path, state in zip(inputs[1:], states[1:], strict=True):
        if state.keys() != first.keys() or any(state[k].shape != first[k].shape for k in first):
            raise CheckpointError(
                f"{weights_path(path)}: its keys or shapes differ from {weights_path(inputs[0])}'s"
            )
    averaged = {}
    for key, tensor in first.items():
        if tensor.is_floating_point():
            total = torch.stack([state[key].double() for state in states]).mean(dim=0)
            averaged[key] = total.to(tensor.dtype).contiguous()
        else:
            averaged[key] = states[-1][key].clone()
    meta = {**metas[-1], "averaged_from": [str(path) for path in inputs]}
    return write_checkpoint_files(out, averaged, meta)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint folders or .safetensors files")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args()
    try:
        out = average_checkpoints(args.checkpoints, args.out)
    except CheckpointError as err:
        raise SystemExit(f"error: {err}") from None
    print(f"averaged {len(args.checkpoints)} checkpoints -> {out / WEIGHTS_NAME}")


if __name__ == "__main__":
    main()
