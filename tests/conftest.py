"""Shared fixtures of the core tests: one tiny model for the whole session, and a checkpoint of it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from openclap import ClapModel, create_model, save_checkpoint

torch.set_num_threads(2)


@pytest.fixture(scope="session", autouse=True)
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Caches written by the code under test (``openclap classify``'s label cache) go to a temporary
    folder, never to the user's ``~/.cache``; subprocesses inherit it."""
    old = os.environ.get("OPENCLAP_CACHE_DIR")
    os.environ["OPENCLAP_CACHE_DIR"] = str(tmp_path_factory.mktemp("openclap-cache"))
    yield
    if old is None:
        os.environ.pop("OPENCLAP_CACHE_DIR", None)
    else:
        os.environ["OPENCLAP_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def _thread_count_kept() -> Iterator[None]:
    """Each test leaves torch's intra-op thread count as it found it: ``ClapModel.cpu_chunk`` and the
    speed of every later test depend on it (``train()`` once left it at its run's 1 for good, and the
    rest of the suite ran on one thread)."""
    before = torch.get_num_threads()
    yield
    after = torch.get_num_threads()
    if after != before:
        torch.set_num_threads(before)
        pytest.fail(f"the test left torch's thread count at {after} (it was {before})")


@pytest.fixture(scope="session")
def tiny_model() -> ClapModel:
    """``tiny-test`` (16 kHz, 1 s clips, 2-stage small CNN, 1-layer random BERT, MiniLM tokenizer).

    Freshly initialised, in eval mode. Shared: tests must not modify it.
    """
    torch.manual_seed(0)
    return create_model("tiny-test")


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_model: ClapModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An openclap checkpoint folder holding ``tiny_model``'s weights (text tower included)."""
    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="session")
def tone_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A train/val manifest of synthetic tones and noise with captions (trainer and CUDA tests)."""
    from tests.train.tiny_runs import write_tone_manifest

    return write_tone_manifest(tmp_path_factory.mktemp("tones"))
