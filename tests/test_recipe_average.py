"""Tests of the default-model tail-averaging script: the mean of real trainer-format checkpoints."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from openclap import create_model
from openclap.checkpoint import CheckpointError, save_checkpoint
from openclap.model import ClapModel
from tests.helpers import load_recipe

average = load_recipe("average")


def _perturbed(model: ClapModel, seed: int) -> ClapModel:
    """A copy of ``model`` with every float tensor moved a little and its BatchNorm counters set to seed."""
    other = ClapModel(model.config)
    other.load_state_dict(model.state_dict())
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in other.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(0.01 * torch.randn(tensor.shape, generator=gen).abs())
            else:
                tensor.fill_(seed)
    return other


def test_the_average_is_the_mean_of_every_float_tensor(tiny_model: ClapModel, tmp_path: Path) -> None:
    folders = [save_checkpoint(_perturbed(tiny_model, s), tmp_path / f"step-{s}") for s in (1, 2, 3)]
    out = average.average_checkpoints(folders, tmp_path / "tail")
    got = load_file(str(out / "model.safetensors"))
    states = [load_file(str(f / "model.safetensors")) for f in folders]
    assert got.keys() == states[0].keys()
    counters = 0
    for key, tensor in got.items():
        if tensor.is_floating_point():
            expected = torch.stack([s[key].double() for s in states]).mean(0).float()
            torch.testing.assert_close(tensor, expected, rtol=0, atol=1e-7)
            assert not torch.equal(tensor, states[0][key])
        else:
            assert torch.equal(tensor, states[-1][key]) and int(tensor.flatten()[0]) == 3
            counters += 1
    assert counters > 0  # the tiny model has BatchNorm layers
    loaded = create_model(checkpoint=out)  # loads like any trainer checkpoint
    torch.testing.assert_close(loaded.state_dict()["logit_scale"], got["logit_scale"])


def test_mismatched_or_single_inputs_are_refused(tiny_model: ClapModel, tmp_path: Path) -> None:
    a = save_checkpoint(tiny_model, tmp_path / "a")
    with pytest.raises(CheckpointError, match="at least two"):
        average.average_checkpoints([a], tmp_path / "out")
    wider = dataclasses.replace(
        tiny_model.config, projection=dataclasses.replace(tiny_model.config.projection, dim=64)
    )
    b = save_checkpoint(ClapModel(wider), tmp_path / "b")
    with pytest.raises(CheckpointError, match="config differs"):
        average.average_checkpoints([a, b], tmp_path / "out")
    assert not (tmp_path / "out").exists()
