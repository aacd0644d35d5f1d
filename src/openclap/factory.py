"""``create_model``: a registered name, a JSON config or a ClapConfig (+ optional checkpoint) -> ClapModel."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from openclap.checkpoint import load_weights, read_config, read_metadata
from openclap.config import ClapConfig
from openclap.device import pick_device
from openclap.hub.registry import find_entry
from openclap.model import PRECISIONS, ClapModel
from openclap.registry import (  # bundled_weights: re-exported
    DEFAULT_MODEL,
    bundled_weights,
    get_config,
    list_models,
)


def create_model(
    name_or_config: str | ClapConfig | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    pretrained: bool = True,
    tokenizer: str | None = None,
    precision: str = "fp32",
    text: bool = True,
    compile: bool = False,
) -> ClapModel:
    """Build a model in eval mode.

    - ``checkpoint`` (an openclap folder or ``.safetensors``): its embedded config is used unless
      ``name_or_config`` is given, and its weights are loaded strictly. A published checkpoint (msclap
      ``.pth``, LAION ``.pt``, a Hugging Face folder) is converted on the fly (``openclap.convert``).
    - A published model's name (``openclap.hub.list_pretrained()``: ``msclap-2023``, ``laion-630k``,
      ``laion/clap-htsat-unfused``, ...) with ``pretrained`` true loads its published weights: fetched,
      checked and converted on first use, then read from the cache (``openclap pull NAME`` does it ahead).
      Weights that cannot be had raise ``WeightsNotFoundError`` naming ``openclap pull NAME``: never
      random weights in their place. ``pretrained=False`` builds the model untrained, on purpose.
    - Another registered name loads the weights bundled with the package when they exist and
      ``pretrained`` is true; without them the audio side is freshly initialised (see
      ``has_trained_weights``).
    - ``tokenizer``: a local folder with the text tokenizer files, replacing the config's (needed for
      published models whose tokenizer does not ship with openclap: gpt2, roberta-base).
    - ``device``: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto`` (CUDA when usable); a device this
      machine lacks is a ``ValueError`` before anything loads.
    - ``precision``: ``fp32`` (default) or ``bf16`` inference (``ClapModel.set_precision``: autocast of
      the encoders and projections; embeddings stay float32). Change it later with ``set_precision``.
    - ``text=False``: an audio-only model (no text tower: ``encode_text`` raises), built without
      importing the text tower's library; what ``openclap embed`` uses (seconds less to start).
    - ``compile=True``: ``ClapModel.compile_towers()`` in ``precision`` (on a CPU an AOTInductor package
      built once per model, precision and machine, 15-60 s, then loaded from the cache in milliseconds;
      the default model embeds ~1.6x faster; see ``openclap.compiled``).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not valid; choose one of {list(PRECISIONS)}")
    model = _create(name_or_config, checkpoint, pick_device(device), pretrained, tokenizer, text)
    model.set_precision(precision)
    return model.compile_towers() if compile else model


def _create(
    name_or_config: str | ClapConfig | None,
    checkpoint: str | os.PathLike[str] | None,
    device: torch.device,
    pretrained: bool,
    tokenizer: str | None,
    text: bool = True,
) -> ClapModel:
    if checkpoint is not None:
        from openclap.convert import is_published_checkpoint, load_published

        if is_published_checkpoint(checkpoint):  # msclap / LAION .pth/.pt, Hugging Face folder: convert
            override = _as_config(name_or_config) if name_or_config is not None else None
            model = load_published(checkpoint, config=override, tokenizer=tokenizer)
            if not text:  # converted with its text tower (the key maps need it), then dropped
                model.text_encoder = None
            return model.to(device).eval()
        config = _as_config(name_or_config) if name_or_config is not None else read_config(checkpoint)
        config = _with_tokenizer(config, tokenizer)
        external_text = read_metadata(checkpoint).get("text_weights") == "external"
        model = ClapModel(config, load_text_weights=external_text, text=text)
        load_weights(model, checkpoint)
    elif pretrained and isinstance(name_or_config, str) and find_entry(name_or_config) is not None:
        from openclap.hub.pretrained import resolve_checkpoint

        folder = resolve_checkpoint(find_entry(name_or_config))  # type: ignore[arg-type]
        return _create(None, folder, device, pretrained, tokenizer, text)
    else:
        config = _with_tokenizer(
            _as_config(name_or_config if name_or_config is not None else DEFAULT_MODEL), tokenizer
        )
        shipped = (
            bundled_weights(config.name) if pretrained and isinstance(name_or_config, str | None) else None
        )
        if shipped is not None:
            return _create(None, shipped, device, pretrained, tokenizer, text)
        model = ClapModel(config, text=text)
    return model.to(device).eval()


def has_trained_weights(name: str) -> bool:
    """True when ``create_model(name)`` gives trained weights: bundled ones, or a published model's."""
    return bundled_weights(name) is not None or find_entry(name) is not None


def _as_config(value: str | ClapConfig) -> ClapConfig:
    if isinstance(value, ClapConfig):
        return value
    entry = find_entry(value)
    return get_config(entry.config if entry is not None and value not in list_models() else value)


def _with_tokenizer(config: ClapConfig, tokenizer: str | None) -> ClapConfig:
    if tokenizer is None:
        return config
    from openclap.text.tower import check_tokenizer_folder

    check_tokenizer_folder(tokenizer, config.text_encoder)
    folder = tokenizer if tokenizer == "minilm" else str(Path(tokenizer).expanduser().resolve())
    return config.replace(text_encoder=dataclasses.replace(config.text_encoder, tokenizer=folder))
