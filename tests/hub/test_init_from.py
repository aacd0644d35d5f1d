"""``init_from`` / ``init_towers``: a run starts from a published model (by name, via the local Hub) or
a checkpoint file, copying only the chosen towers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from openclap import CheckpointError, ClapModel
from openclap.train.config import TrainConfig
from openclap.train.runner import build_model
from tests.hub.local_hub import LocalHub


def _config(**kw: object) -> TrainConfig:
    return TrainConfig.from_dict({"model": "tiny-test", "data": {"train_manifest": "unused.csv"}, **kw})


def test_audio_tower_from_a_published_name(env: Path, hub: LocalHub, tiny_model: ClapModel) -> None:
    model = build_model(_config(init_from="test-tiny", init_towers=["audio"], seed=1), torch.device("cpu"))
    ours, src = model.state_dict(), tiny_model.state_dict()
    audio = [k for k in src if k.startswith(("audio_encoder.", "audio_projection."))]
    assert audio and all(torch.equal(ours[k], src[k]) for k in audio)
    text = [k for k in src if k.startswith("text_projection.linear")]
    assert text and not any(torch.equal(ours[k], src[k]) for k in text)
    assert len(hub.gets("/model.safetensors")) == 1


def test_both_towers_from_a_checkpoint_file(tiny_checkpoint: Path, tiny_model: ClapModel) -> None:
    model = build_model(_config(init_from=str(tiny_checkpoint)), torch.device("cpu"))
    src = tiny_model.state_dict()
    assert all(torch.equal(v, src[k]) for k, v in model.state_dict().items())


def test_bad_sources_are_clear_errors(tmp_path: Path, tiny_checkpoint: Path) -> None:
    with pytest.raises(CheckpointError, match="neither a published model name"):
        build_model(_config(init_from=str(tmp_path / "nope.pth")), torch.device("cpu"))
    with pytest.raises(ValueError, match="init_towers must name"):
        _config(init_from="x", init_towers=["audoi"])
    other = _config(init_from=str(tiny_checkpoint), init_towers=["audio"])
    other.model = "openclap-small"
    with pytest.raises(CheckpointError, match="does not fit the run's model"):
        build_model(other, torch.device("cpu"))
