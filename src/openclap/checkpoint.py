"""openclap checkpoints: safetensors weights with the model config embedded.

A checkpoint is a folder holding ``config.json`` and ``model.safetensors`` (like ``save_pretrained``);
the safetensors metadata also carries the config, so the ``.safetensors`` file alone is self-describing.
Loading is strict (missing, unexpected and mis-shaped keys are reported by name) and never unpickles.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from openclap.atomic import atomic_write
from openclap.config import ClapConfig

FORMAT = "openclap"
FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
TEXT_PREFIX = "text_encoder."


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message names the file and the problem."""


def save_checkpoint(
    model: nn.Module,
    folder: str | os.PathLike[str],
    include_text: bool = True,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``folder/model.safetensors`` and ``folder/config.json`` atomically.

    ``include_text=False`` leaves out the text tower: it is then rebuilt from its pretrained source
    (e.g. the packaged MiniLM) at load time, which keeps shipped files small.
    """
    folder = Path(folder)
    config: ClapConfig = model.config  # type: ignore[assignment]
    state = {
        k: v.detach().cpu().contiguous().clone()
        for k, v in model.state_dict().items()
        if include_text or not k.startswith(TEXT_PREFIX)
    }
    text_cfg = config.text_encoder
    if not include_text and not (text_cfg.pretrained and text_cfg.source is not None):
        # Without a pretrained source the tower would be rebuilt at random when loading.
        raise CheckpointError(
            "include_text=False needs a pretrained text tower source in the config "
            "(text_encoder.source set and pretrained true)"
        )
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "text_weights": "included" if include_text else "external",
        **(extra or {}),
    }
    return write_checkpoint_files(folder, state, meta)


def write_checkpoint_files(folder: Path, state: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write ``state`` with ``meta`` embedded to ``folder/model.safetensors``, and ``meta`` to
    ``folder/config.json``, each atomically. ``meta`` is an openclap checkpoint's metadata (format,
    config, text_weights, ...): ``save_checkpoint`` builds it, ``read_metadata`` returns it."""
    st_meta = {"openclap": json.dumps(meta)}
    atomic_write(folder / WEIGHTS_NAME, lambda p: save_file(state, str(p), metadata=st_meta))
    atomic_write(folder / CONFIG_NAME, lambda p: p.write_text(json.dumps(meta, indent=2) + "\n"))
    return folder


def weights_path(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_NAME
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    if path.suffix != ".safetensors":
        raise CheckpointError(
            f"{path}: not an openclap checkpoint (expected a folder or a .safetensors "
            "file; convert published .pth/.pt files with `openclap convert`)"
        )
    return path


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The embedded metadata (format, config, text_weights) of an openclap checkpoint."""
    file = weights_path(path)
    try:
        with safe_open(str(file), framework="pt") as fh:
            raw = (fh.metadata() or {}).get("openclap")
    except Exception as err:  # safetensors raises its own error types for corrupt headers
        raise CheckpointError(f"{file}: not a readable safetensors file ({err})") from None
    if raw is None:
        raise CheckpointError(f"{file}: safetensors file has no openclap metadata (no embedded config)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{file}: the embedded openclap metadata is not valid JSON ({err})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{file}: the embedded openclap metadata is not a JSON object")
    if meta.get("format") != FORMAT or int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{file}: unsupported checkpoint format {meta.get('format')!r} "
            f"version {meta.get('format_version')!r}"
        )
    return meta


def tensor_summary(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(tensor count, parameter count) of an openclap checkpoint, read from its header only."""
    file = weights_path(path)
    try:
        with safe_open(str(file), framework="pt") as fh:
            shapes = [fh.get_slice(k).get_shape() for k in fh.keys()]  # noqa: SIM118 (not a dict)
    except Exception as err:  # safetensors raises its own error types for corrupt headers
        raise CheckpointError(f"{file}: not a readable safetensors file ({err})") from None
    return len(shapes), sum(math.prod(shape) for shape in shapes)


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    """A tensor's raw bytes (CPU, contiguous, any dtype and shape, 0-d and empty included): what the
    weight fingerprints of the label cache, the text-feature cache, the index and the compiled-package
    cache hash."""
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def read_config(path: str | os.PathLike[str]) -> ClapConfig:
    return ClapConfig.from_dict(read_metadata(path)["config"])


def load_state_strict(
    model: nn.Module, state: dict[str, torch.Tensor], source: str, allow_missing: Iterable[str] = ()
) -> None:
    """Copy ``state`` into ``model``; raise ``CheckpointError`` naming every missing, unexpected or
    mis-shaped key (keys starting with a prefix in ``allow_missing`` may be absent)."""
    own = model.state_dict()
    prefixes = tuple(allow_missing)
    missing = [k for k in own if k not in state and not (prefixes and k.startswith(prefixes))]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in state
        if k in own and state[k].shape != own[k].shape
    ]
    problems = []
    for title, keys in (
        ("missing keys", missing),
        ("unexpected keys", unexpected),
        ("shape mismatches", mismatched),
    ):
        if keys:
            shown = ", ".join(keys[:10]) + (f", ... ({len(keys)} in all)" if len(keys) > 10 else "")
            problems.append(f"{title}: {shown}")
    if problems:
        raise CheckpointError(f"{source}: checkpoint does not match the model; " + "; ".join(problems))
    model.load_state_dict(state, strict=False)


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load an openclap checkpoint's weights into an already-built model (strict)."""
    file = weights_path(path)
    meta = read_metadata(file)
    try:
        state = load_file(str(file))
    except Exception as err:
        raise CheckpointError(f"{file}: cannot read weights ({err})") from None
    allow = (TEXT_PREFIX,) if meta.get("text_weights") == "external" else ()
    if getattr(model, "text_encoder", True) is None:  # an audio-only model: the text weights have no home
        state = {k: v for k, v in state.items() if not k.startswith(TEXT_PREFIX)}
    load_state_strict(model, state, str(file), allow_missing=allow)
