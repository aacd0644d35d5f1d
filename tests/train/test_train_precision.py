"""bf16 training really computes in bf16: a global forward hook sees the dtypes that the trainer's
linear and convolution layers produce during a training step, and the master weights stay float32."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from openclap.train.config import TrainConfig
from openclap.train.runner import train
from tests.train.tiny_runs import tiny_run


def _training_dtypes(manifest: Path, out: Path, precision: str) -> tuple[Counter, Path]:
    seen: Counter = Counter()

    def hook(module: torch.nn.Module, args: object, output: object) -> None:
        layer = isinstance(module, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d))
        if module.training and layer and isinstance(output, torch.Tensor):
            seen[output.dtype] += 1

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    threads = torch.get_num_threads()
    try:
        result = train(TrainConfig.from_dict(tiny_run(manifest, out, max_steps=1, precision=precision)))
    finally:
        handle.remove()
        torch.set_num_threads(threads)
    return seen, result.final_checkpoint


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_computes_in_the_configured_precision(
    tone_manifest: Path, tmp_path: Path, precision: str
) -> None:
    seen, final = _training_dtypes(tone_manifest, tmp_path / precision, precision)
    want = torch.bfloat16 if precision == "bf16" else torch.float32
    assert seen[want] > 0 and set(seen) == {want}, seen  # every audio and text layer, not only some
    weights = load_file(final / "model.safetensors").values()
    assert {t.dtype for t in weights if t.is_floating_point()} == {torch.float32}  # fp32 master weights
