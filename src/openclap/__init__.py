"""openclap: train, evaluate and serve CLAP (contrastive language-audio pretraining) models.

The public names below are imported on first use (``openclap.create_model`` imports torch then), so
``import openclap`` and ``openclap --help`` stay fast.
"""

# ruff: noqa: F401  (the TYPE_CHECKING imports below exist only for type checkers)
from __future__ import annotations

from typing import TYPE_CHECKING

from openclap._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "configure_allocator": "openclap.allocator",
    "keep_freed_memory": "openclap.allocator",
    "use_huge_pages": "openclap.allocator",
    "AudioError": "openclap.audio.io",
    "load_audio": "openclap.audio.io",
    "load_mono": "openclap.audio.io",
    "CheckpointError": "openclap.checkpoint",
    "load_weights": "openclap.checkpoint",
    "save_checkpoint": "openclap.checkpoint",
    "AudioEncoderConfig": "openclap.config",
    "AudioFrontendConfig": "openclap.config",
    "ClapConfig": "openclap.config",
    "ProjectionConfig": "openclap.config",
    "TextEncoderConfig": "openclap.config",
    "create_model": "openclap.factory",
    "has_trained_weights": "openclap.factory",
    "EmbeddingResult": "openclap.inference",
    "embed_audio": "openclap.inference",
    "embed_audio_files": "openclap.inference",
    "embed_audio_windows": "openclap.inference",
    "embed_texts": "openclap.inference",
    "find_audio_files": "openclap.inference",
    "WeightsNotFoundError": "openclap.hub",
    "list_pretrained": "openclap.hub",
    "pull": "openclap.hub",
    "Hit": "openclap.index",
    "SoundIndex": "openclap.index",
    "SoundIndexError": "openclap.index",
    "build_index": "openclap.index",
    "update_index": "openclap.index",
    "ClapModel": "openclap.model",
    "list_models": "openclap.registry",
    "Prediction": "openclap.zero_shot",
    "ZeroShotClassifier": "openclap.zero_shot",
    "EmbeddingFile": "openclap.embeddings_io",
    "read_embeddings": "openclap.embeddings_io",
    "write_embeddings": "openclap.embeddings_io",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports on first use
    from openclap.allocator import configure_allocator, keep_freed_memory, use_huge_pages
    from openclap.audio.io import AudioError, load_audio, load_mono
    from openclap.checkpoint import CheckpointError, load_weights, save_checkpoint
    from openclap.config import (
        AudioEncoderConfig,
        AudioFrontendConfig,
        ClapConfig,
        ProjectionConfig,
        TextEncoderConfig,
    )
    from openclap.embeddings_io import EmbeddingFile, read_embeddings, write_embeddings
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
