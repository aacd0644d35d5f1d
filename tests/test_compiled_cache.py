"""The compiled-package cache keeps the most recently used packages of each model and precision only
(no compiler needed: the files here are placeholders, only names and times matter)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from openclap import compiled, create_model, kernels
from openclap.compiled import KEEP_PER_MODEL, package_key, prune_packages


def _package(folder: Path, name: str, age_s: float) -> Path:
    path = folder / name
    path.write_bytes(b"pt2")
    stamp = 1_700_000_000 - age_s
    os.utime(path, (stamp, stamp))
    return path


def test_prune_keeps_the_most_recently_used_of_the_same_model_and_precision(tmp_path: Path) -> None:
    key = lambda c: c * 32  # noqa: E731
    new = _package(tmp_path, f"msclap-2023-fp32-{key('a')}.pt2", age_s=1000)  # just built: oldest mtime
    recent = _package(tmp_path, f"msclap-2023-fp32-{key('b')}.pt2", age_s=10)
    stale = [_package(tmp_path, f"msclap-2023-fp32-{key(c)}.pt2", age_s=100 + i) for i, c in enumerate("cde")]
    others = [
        _package(tmp_path, f"msclap-2023-bf16-{key('c')}.pt2", age_s=5000),  # another precision
        _package(tmp_path, f"msclap-2022-fp32-{key('c')}.pt2", age_s=5000),  # another model
        _package(tmp_path, f"msclap-2023-fp32-x-fp32-{key('c')}.pt2", age_s=5000),  # a longer model name
        _package(tmp_path, f".msclap-2023-fp32-{key('f')}.123.pt2", age_s=5000),  # a build in progress
        _package(tmp_path, "notes.txt", age_s=5000),
    ]
    assert KEEP_PER_MODEL == 2
    removed = prune_packages(new)
    assert sorted(removed) == sorted(stale)
    assert new.exists() and recent.exists()
    assert all(path.exists() for path in others)
    assert not any(path.exists() for path in stale)
    assert prune_packages(new) == []  # nothing more to do


def test_prune_keep_one_leaves_only_the_new_package(tmp_path: Path) -> None:
    new = _package(tmp_path, f"openclap-yamnet-bf16-{'0' * 32}.pt2", age_s=0)
    old = _package(tmp_path, f"openclap-yamnet-bf16-{'1' * 32}.pt2", age_s=0)
    assert prune_packages(new, keep=1) == [old]
    assert new.exists() and not old.exists()


def test_the_package_key_follows_the_audio_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """A package traced from other openclap code (another front end, encoder or this module) is never
    loaded: the key hashes their source."""
    model = create_model("tiny-test", pretrained=False, text=False)
    key = package_key(model)
    assert package_key(model) == key
    monkeypatch.setattr(compiled, "source_digest", lambda: "other source")
    assert package_key(model) != key


def test_the_package_key_follows_the_cpus_instruction_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    """inductor compiles a package with -march=native: another CPU's flags (a cache folder shared by
    machines) must give another key, even where torch names both capabilities "AVX512"."""
    model = create_model("tiny-test", pretrained=False, text=False)
    key = package_key(model)
    here = kernels.cpu_flags()
    monkeypatch.setattr(kernels, "cpu_flags", lambda: here.replace(" avx512_bf16", "") + " other")
    assert package_key(model) != key
