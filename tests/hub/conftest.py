"""Fixtures of the download tests: a local Hub holding a tiny openclap checkpoint, a fresh cache
(HF_HOME in tmp) and a registry file (OPENCLAP_REGISTRY) naming the test models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from openclap import ClapModel, save_checkpoint
from tests.hub.local_hub import COMMIT, LocalHub, sha256_of

REPO = "openclap-test/tiny"
WEIGHTS = "model.safetensors"


@pytest.fixture(scope="session")
def tiny_published(tiny_model: ClapModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny-test model as a published file (an openclap safetensors, the 'openclap' family)."""
    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("published") / "tiny") / WEIGHTS


@pytest.fixture()
def hub(tiny_published: Path) -> Iterator[LocalHub]:
    with LocalHub() as server:
        server.add_hub_file(REPO, COMMIT, WEIGHTS, tiny_published)
        yield server


def write_registry(path: Path, entries: dict[str, dict]) -> Path:
    path.write_text(json.dumps({"models": entries}))
    return path


def tiny_entry(published: Path, sha256: str | None = None, url: str | None = None) -> dict:
    file = {"name": WEIGHTS, "size": published.stat().st_size, "sha256": sha256 or sha256_of(published)}
    entry = {"config": "tiny-test", "family": "openclap", "files": [dict(file, url=url) if url else file]}
    return entry if url else dict(entry, hub={"repo": REPO, "revision": COMMIT})


@pytest.fixture()
def env(hub: LocalHub, tiny_published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HF_HOME, HF_ENDPOINT at the local hub and the test registry; returns HF_HOME."""
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("OPENCLAP_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    url = hub.add_url_file(WEIGHTS, tiny_published)
    registry = write_registry(tmp_path / "registry.json", {
        "test-tiny": tiny_entry(tiny_published),
        "test-tiny-badsum": tiny_entry(tiny_published, sha256="0" * 64),
        "test-tiny-url": tiny_entry(tiny_published, url=url),
    })
    monkeypatch.setenv("OPENCLAP_REGISTRY", str(registry))
    return home
