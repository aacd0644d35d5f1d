"""The published-checkpoint registry: ``pretrained.json`` (shipped data) plus ``$OPENCLAP_REGISTRY``.

Each entry names where a published model lives (a Hugging Face repository + revision, or plain HTTPS
URLs), its files with size and sha256 where published, its tokenizer source, licence, the figures its
authors report and where every fact came from. ``$OPENCLAP_REGISTRY`` (a JSON file of the same shape)
adds entries or replaces shipped ones by name, e.g. for a private mirror.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

FAMILIES = ("msclap", "laion", "hf", "openclap")


@dataclass(frozen=True)
class PublishedFile:
    """One file of a published model: ``url`` for files not on the Hub; size / sha256 None if unknown;
    ``optional`` files (extra tokenizer / extractor settings) may be absent from the repository."""

    name: str
    size: int | None = None
    sha256: str | None = None
    url: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class TokenizerSource:
    """Where the text tokenizer comes from: bundled with openclap, in the model's own repository, or
    another Hub repository (``repo`` + ``revision`` + ``files``)."""

    bundled: str | None = None
    in_repo: bool = False
    repo: str | None = None
    revision: str = "main"
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class PretrainedEntry:
    name: str
    config: str
    family: str
    files: tuple[PublishedFile, ...]
    repo: str | None = None
    revision: str = "main"
    tokenizer: TokenizerSource = field(default_factory=TokenizerSource)
    description: str = ""
    license: str = ""
    reported: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    notes: str = ""

    @property
    def weights_file(self) -> PublishedFile:
        """The file holding the weights (a folder-style Hugging Face entry has several files)."""
        for f in self.files:
            if f.name.endswith((".pth", ".pt", ".bin", ".ckpt", ".safetensors")):
                return f
        return self.files[0]

    @property
    def location(self) -> str:
        if self.repo is not None:
            return f"https://huggingface.co/{self.repo}"
        return self.files[0].url or "?"


class RegistryError(ValueError):
    """A malformed registry file; the message names the file and the entry."""


def _entry(name: str, raw: dict[str, Any], source: str) -> PretrainedEntry:
    try:
        hub = raw.get("hub") or {}
        tok = dict(raw.get("tokenizer") or {})
        tok_hub = tok.pop("hub", None) or {}
        files = tuple(PublishedFile(**f) for f in raw["files"])
        entry = PretrainedEntry(
            name=name, config=raw["config"], family=raw["family"], files=files,
            repo=hub.get("repo"), revision=hub.get("revision", "main"),
            tokenizer=TokenizerSource(repo=tok_hub.get("repo"), revision=tok_hub.get("revision", "main"),
                                      files=tuple(tok.pop("files", ())), **tok),
            description=raw.get("description", ""), license=raw.get("license", ""),
            reported=dict(raw.get("reported") or {}), sources=dict(raw.get("sources") or {}),
            notes=raw.get("notes", ""),
        )
    except (KeyError, TypeError) as err:
        raise RegistryError(f"{source}: entry {name!r} is malformed ({err})") from None
    if entry.family not in FAMILIES:
        raise RegistryError(f"{source}: entry {name!r} has family {entry.family!r}; valid: {list(FAMILIES)}")
    if not files or (entry.repo is None and any(f.url is None for f in files)):
        raise RegistryError(f"{source}: entry {name!r} needs files and, without a hub repo, a url per file")
    return entry


def _read(text: str, source: str) -> dict[str, PretrainedEntry]:
    try:
        models = json.loads(text)["models"]
    except (ValueError, KeyError, TypeError) as err:
        raise RegistryError(f"{source}: not a registry file (expected a 'models' mapping; {err})") from None
    return {name: _entry(name, raw, source) for name, raw in models.items()}


def load_registry() -> dict[str, PretrainedEntry]:
    """Shipped entries, then those of ``$OPENCLAP_REGISTRY`` (which win on a name clash)."""
    shipped = resources.files("openclap") / "hub" / "pretrained.json"
    entries = _read(shipped.read_text(), "openclap/hub/pretrained.json")
    extra = os.environ.get("OPENCLAP_REGISTRY")
    if extra:
        path = Path(extra).expanduser()
        if not path.is_file():
            raise RegistryError(f"OPENCLAP_REGISTRY={extra}: file not found")
        entries.update(_read(path.read_text(), str(path)))
    return entries


def list_pretrained() -> list[str]:
    return sorted(load_registry())


def find_entry(name: str) -> PretrainedEntry | None:
    """The entry registered under ``name`` (None if it is not a published model)."""
    return load_registry().get(name)
