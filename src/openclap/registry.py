"""Named model configurations, stored as JSON data in ``openclap/model_configs/``."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from openclap.config import ClapConfig

DEFAULT_MODEL = "openclap-yamnet"


def _config_dir() -> resources.abc.Traversable:
    return resources.files("openclap") / "model_configs"


def list_models() -> list[str]:
    """Names of every registered model configuration, sorted."""
    return sorted(p.name[: -len(".json")] for p in _config_dir().iterdir() if p.name.endswith(".json"))


def get_config(name_or_path: str) -> ClapConfig:
    """A registered name (``list_models()``) or a path to a JSON config file -> ``ClapConfig``."""
    entry = _config_dir() / f"{name_or_path}.json"
    if entry.is_file():
        return ClapConfig.from_dict(json.loads(entry.read_text()))
    path = Path(name_or_path)
    if path.suffix == ".json" and path.is_file():
        return ClapConfig.from_dict(json.loads(path.read_text()))
    raise ValueError(
        f"unknown model {name_or_path!r}; registered models: {', '.join(list_models())} "
        "(or pass a path to a JSON config file)"
    )


def bundled_weights(name: str) -> Path | None:
    """Weights shipped inside the package for a registered model name, if any."""
    entry = resources.files("openclap") / "weights" / f"{name}.safetensors"
    return Path(str(entry)) if entry.is_file() else None
