"""Which model made an index: its name, config and a fingerprint of its weights.

The fingerprint is a SHA-256 over the model's config (JSON, fields left at their defaults omitted), its
inference precision when not fp32, and every state-dict tensor in key order (name, dtype, shape, bytes),
so two models agree exactly when they embed alike; it does not depend on the device or on where the
weights were loaded from, and a new config field whose default keeps the old behaviour (added by a later
openclap) does not make existing indexes refuse their model.

It covers the text tower too (search embeds text with it), so a model built audio-only cannot compute it.
Building an index embeds audio only, so ``FingerprintAliases`` remembers the fingerprint that the files a
model was loaded from gave (their identity: ``openclap.user_cache.files_identity``): a later build
from the same unchanged files loads the model audio-only and passes the remembered fingerprint
(``identify(..., fingerprint=)``), seconds faster to start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from openclap.checkpoint import tensor_bytes
from openclap.model import ClapModel
from openclap.user_cache import DigestAliases

FINGERPRINTS_FILE = "fingerprints.json"  # FingerprintAliases' file in its folder
KEEP_ALIASES = 64  # the most recently remembered aliases kept


@dataclass(frozen=True)
class ModelIdentity:
    """What an index records of its model; ``checkpoint`` is where to load it again (None: the bundled
    weights of the registered ``name``); ``precision``: the inference precision it embedded in (``fp32``
    or ``bf16``), which loading it again restores."""

    name: str
    fingerprint: str
    dim: int
    checkpoint: str | None = None
    precision: str = "fp32"

    def describe(self) -> str:
        shown = "" if self.precision == "fp32" else f", {self.precision}"
        return f"{self.name!r} (weights {self.fingerprint[:12]}{shown})"


def _non_default_fields(config: Any) -> Any:
    """A config dataclass as a dict without the fields that hold their default value (recursively)."""
    if not dataclasses.is_dataclass(config):
        return config
    kept = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.default is not dataclasses.MISSING and value == field.default:
            continue
        if field.default_factory is not dataclasses.MISSING and value == field.default_factory():
            continue
        kept[field.name] = _non_default_fields(value)
    return kept


def model_fingerprint(model: ClapModel) -> str:
    """SHA-256 of the model's config, precision and weights (see the module docstring); a model built
    without its text tower is a ``ValueError`` (its fingerprint would match no complete model)."""
    if model.text_encoder is None:
        raise ValueError(
            f"model {model.config.name!r} was built without its text tower, so its fingerprint (which "
            "covers both towers) cannot be computed; build it with its text tower or pass the fingerprint"
        )
    described = _non_default_fields(model.config)
    precision = getattr(model, "precision", "fp32")
    if precision != "fp32":
        described = {**described, "precision": precision}
    digest = hashlib.sha256(json.dumps(described, sort_keys=True, default=list).encode())
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            data = tensor.detach().cpu().contiguous()
            digest.update(f"{key}|{data.dtype}|{tuple(data.shape)}|".encode())
            digest.update(tensor_bytes(data))
    return digest.hexdigest()


def identify(
    model: ClapModel, checkpoint: str | Path | None = None, fingerprint: str | None = None
) -> ModelIdentity:
    """The identity of ``model``; ``checkpoint`` (recorded as an absolute path) tells ``load_model`` where
    its weights live when they are not the bundled weights of a registered name; ``fingerprint``: the
    model's, when the caller knows it (an audio-only model cannot compute it, see the module docstring)."""
    source = str(Path(checkpoint).expanduser().resolve()) if checkpoint is not None else None
    known = fingerprint if fingerprint is not None else model_fingerprint(model)
    return ModelIdentity(model.config.name, known, model.config.projection.dim, source, model.precision)


class FingerprintAliases(DigestAliases):
    """Model fingerprints (SHA-256) by the identity of the files a model was loaded from, in ``folder``'s
    ``fingerprints.json`` (the ``KEEP_ALIASES`` most recent). A damaged or unwritable file only costs the
    speed-up: lookups then miss and remembering does nothing."""

    def __init__(self, folder: str | Path) -> None:
        super().__init__(Path(folder) / FINGERPRINTS_FILE, digest_chars=64, keep=KEEP_ALIASES)  # SHA-256 hex

    def remember(self, identity: str, digest: str) -> None:
        with contextlib.suppress(OSError):  # unwritable: the next build computes the fingerprint again
            super().remember(identity, digest)


def reload_source(identity: ModelIdentity) -> tuple[str | None, str | None] | None:
    """(registered name, checkpoint path) that ``load_model`` rebuilds the model an index records from,
    exactly one of them set; None when it cannot be rebuilt (random weights, a moved checkpoint)."""
    from openclap.factory import has_trained_weights

    if identity.checkpoint is not None:
        return (None, identity.checkpoint) if Path(identity.checkpoint).exists() else None
    return (identity.name, None) if has_trained_weights(identity.name) else None


def load_model(identity: ModelIdentity, device: str = "cpu") -> ClapModel | None:
    """Build the model an index records, in its recorded precision, or None when it cannot be rebuilt
    (``reload_source``); the caller checks the fingerprint."""
    from openclap.factory import create_model

    source = reload_source(identity)
    if source is None:
        return None
    name, checkpoint = source
    return create_model(name, checkpoint=checkpoint, device=device, precision=identity.precision)
