"""Helper for test_ddp, run under torchrun: train, then save this rank's final weights for comparison."""

from __future__ import annotations

import sys
from pathlib import Path

from safetensors.torch import save_file

from openclap.distributed import env_info
from openclap.train.config import load_train_config
from openclap.train.runner import train

if __name__ == "__main__":
    result = train(load_train_config(sys.argv[1]))
    state = {k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, str(Path(sys.argv[2]) / f"rank{env_info().rank}.safetensors"))
