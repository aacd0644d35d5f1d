"""The CLAP trainer (never imported by the library): ``train(TrainConfig)`` or ``openclap train``."""

from openclap.train.config import TrainConfig, load_train_config
from openclap.train.runner import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "load_train_config", "train"]
