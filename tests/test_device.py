"""Device names: ``auto`` picks what is usable; a device the machine lacks is a clear error, not a torch
traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
import torch

from openclap import create_model
from openclap.cli import main
from openclap.device import pick_device
from openclap.train.config import TrainConfig
from openclap.train.runner import train
from tests.helpers import sine
from tests.train.tiny_runs import tiny_run

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")


def test_names_resolve() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(" CPU ") == torch.device("cpu")
    assert pick_device(torch.device("cpu")) == torch.device("cpu")
    assert pick_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="'gpu' is not a torch device name; use cpu, cuda"):
        pick_device("gpu")


def test_cuda_index_out_of_range() -> None:
    with pytest.raises(ValueError, match="cuda:99"):
        pick_device("cuda:99")


@NO_CUDA
def test_missing_cuda_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tone_manifest: Path, tmp_path: Path
) -> None:
    message = r"device 'cuda': this torch \(.*\) (has no CUDA support|sees no CUDA)"
    with pytest.raises(ValueError, match=message):
        create_model("tiny-test", device="cuda")
    clip = tmp_path / "tone.wav"
    sf.write(clip, sine(440.0, 1.0, 16000), 16000)
    assert main(["classify", str(clip), "--labels", "dog,rain", "--device", "cuda"]) == 2
    assert "error: device 'cuda'" in capsys.readouterr().err
    threads = torch.get_num_threads()
    run = tiny_run(tone_manifest, tmp_path / "run", device="cuda")
    assert run["threads"] != threads  # the run asks for its own thread count
    with pytest.raises(ValueError, match="device 'cuda'"):
        train(TrainConfig.from_dict(run))
    assert not (tmp_path / "run").exists()  # nothing written before the error
    assert torch.get_num_threads() == threads  # and the caller's thread count is back
