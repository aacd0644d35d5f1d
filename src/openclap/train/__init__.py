"""The CLAP trainer (never imported by the library): ``train(TrainConfig)`` or ``openclap train``.
Names are imported on first use, so registering ``openclap train`` costs no torch import."""

from openclap._lazy import lazy_exports

_EXPORTS = {
    "TrainConfig": "openclap.train.config",
    "load_train_config": "openclap.train.config",
    "TrainResult": "openclap.train.runner",
    "train": "openclap.train.runner",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
