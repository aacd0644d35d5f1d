"""Helper for the DDP tests, run under torchrun: train, then save this rank's final weights for comparison.

With a third argument, also save the gradients the optimiser receives at the first step (after DDP's
averaging) to ``grads-rank{R}.safetensors`` in that folder."""

from __future__ import annotations

import sys
from pathlib import Path

from safetensors.torch import save_file

from openclap.distributed import env_info
from openclap.train.config import load_train_config
from openclap.train.loop import TrainLoop
from openclap.train.runner import train


def _save_first_gradients(folder: Path) -> None:
    apply = TrainLoop._apply_gradients

    def capture(self: TrainLoop) -> float:
        if self.p.state.step == 0:
            params = self.p.model.named_parameters()
            grads = {name: p.grad.detach().clone() for name, p in params if p.grad is not None}
            save_file(grads, str(folder / f"grads-rank{env_info().rank}.safetensors"))
        return apply(self)

    TrainLoop._apply_gradients = capture  # type: ignore[method-assign]


if __name__ == "__main__":
    if len(sys.argv) > 3:
        _save_first_gradients(Path(sys.argv[3]))
    result = train(load_train_config(sys.argv[1]))
    state = {k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, str(Path(sys.argv[2]) / f"rank{env_info().rank}.safetensors"))
