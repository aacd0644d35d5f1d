"""Start a run from published or saved weights: ``init_from`` (a published model name such as
``msclap-2022``, an openclap checkpoint, or a published file such as ``CLAP_weights_2022.pth``) and
``init_towers`` (``audio``, ``text`` or both) pick which parts are copied into the freshly built model."""

from __future__ import annotations

from pathlib import Path

import torch

from openclap.checkpoint import CheckpointError
from openclap.model import ClapModel

TOWERS = ("audio", "text")
PREFIXES = {"audio": ("audio_encoder.", "audio_projection."), "text": ("text_encoder.", "text_projection.")}
SHARED = ("logit_scale", "logit_scale_t")  # copied when both towers come from the source


def check_towers(towers: list[str]) -> None:
    bad = [t for t in towers if t not in TOWERS]
    if bad or not towers:
        raise ValueError(f"init_towers must name one or both of {list(TOWERS)}, got {towers!r}")


def source_model(source: str) -> ClapModel:
    """The model whose weights seed the run (published weights are fetched as ``create_model`` does)."""
    from openclap.factory import create_model
    from openclap.hub.registry import find_entry

    if find_entry(source) is not None:
        return create_model(source)
    if not Path(source).expanduser().exists():
        raise CheckpointError(
            f"init_from={source!r}: neither a published model name (see `openclap models`) "
            "nor an existing checkpoint file or folder"
        )
    return create_model(checkpoint=source)


def load_towers(model: ClapModel, source: str, towers: list[str]) -> list[str]:
    """Copy the chosen towers of ``source`` into ``model``; every key of those towers must exist in the
    source with the same shape. Returns the copied keys."""
    check_towers(towers)
    theirs = source_model(source).state_dict()
    prefixes = tuple(p for t in towers for p in PREFIXES[t])
    ours = model.state_dict()
    keys = [k for k in ours if k.startswith(prefixes) or (set(towers) == set(TOWERS) and k in SHARED)]
    missing = [k for k in keys if k not in theirs]
    shapes = [
        f"{k}: {tuple(theirs[k].shape)} vs {tuple(ours[k].shape)}"
        for k in keys
        if k in theirs and theirs[k].shape != ours[k].shape
    ]
    if missing or shapes:
        shown = ", ".join((missing + shapes)[:5])
        raise CheckpointError(
            f"init_from={source!r} does not fit the run's model (set `model` to the source's config): {shown}"
        )
    with torch.no_grad():
        for key in keys:
            ours[key].copy_(theirs[key])
    return keys
