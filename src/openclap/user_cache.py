"""openclap's cache folder on this machine: zero-shot label rows (``labels/``) and compiled audio packages
(``compiled/``) live under it."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$OPENCLAP_CACHE_DIR`` or ``~/.cache/openclap`` (``$XDG_CACHE_HOME/openclap`` when set)."""
    if folder := os.environ.get("OPENCLAP_CACHE_DIR"):
        return Path(folder).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "openclap"
