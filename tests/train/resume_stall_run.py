"""Helper for test_resume: train from a YAML run file, and after optimiser step ``STALL_STEP`` touch
``MARKER`` and hang, so the test can SIGKILL the process mid-epoch, after a checkpoint was written."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from openclap.train.config import load_train_config
from openclap.train.runner import train
from openclap.train.state import TrainState


def main(config: str, stall_step: int, marker: str) -> None:
    def stall(state: TrainState, metrics: dict[str, float]) -> None:
        if state.step == stall_step:
            Path(marker).write_text(str(state.step))
            time.sleep(600)

    train(load_train_config(config), callbacks=[stall])


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
