"""openclap: train, evaluate and serve CLAP (contrastive language-audio pretraining) models."""

from openclap.audio.io import AudioError, load_audio, load_mono
from openclap.checkpoint import CheckpointError, load_weights, save_checkpoint
from openclap.config import (
    AudioEncoderConfig,
    AudioFrontendConfig,
    ClapConfig,
    ProjectionConfig,
    TextEncoderConfig,
)
from openclap.factory import create_model, has_trained_weights
from openclap.hub import WeightsNotFoundError, list_pretrained, pull
from openclap.index import Hit, SoundIndex, SoundIndexError, build_index, update_index
from openclap.inference import (
    EmbeddingResult,
    embed_audio,
    embed_audio_files,
    embed_audio_windows,
    embed_texts,
    find_audio_files,
)
from openclap.model import ClapModel
from openclap.registry import list_models
from openclap.zero_shot import Prediction, ZeroShotClassifier

__version__ = "0.1.0"

__all__ = [
    "AudioEncoderConfig",
    "AudioError",
    "AudioFrontendConfig",
    "CheckpointError",
    "ClapConfig",
    "ClapModel",
    "EmbeddingResult",
    "Hit",
    "Prediction",
    "ProjectionConfig",
    "SoundIndex",
    "SoundIndexError",
    "TextEncoderConfig",
    "WeightsNotFoundError",
    "ZeroShotClassifier",
    "build_index",
    "create_model",
    "embed_audio",
    "embed_audio_files",
    "embed_audio_windows",
    "embed_texts",
    "find_audio_files",
    "has_trained_weights",
    "list_models",
    "list_pretrained",
    "load_audio",
    "load_mono",
    "load_weights",
    "pull",
    "save_checkpoint",
    "update_index",
]
