"""Fixtures for the parity tests: they skip (with the reason) when ``../shared/parity`` is absent."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rule import parity_dir, state_dict
from safetensors.torch import load_file


@pytest.fixture(scope="session")
def parity_root() -> Path:
    root = parity_dir()
    if root is None:
        pytest.skip("parity vectors not found: expected ../shared/parity next to the repository "
                    "(or set OPENCLAP_PARITY_DIR)")
    return root


class Case:
    """One parity case: its directory, rebuilt checkpoint, stored inputs and expected outputs."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.name = directory.name
        self._state: dict[str, torch.Tensor] | None = None
        self.inputs = load_file(str(directory / "inputs.safetensors"))
        self.expected = load_file(str(directory / "expected.safetensors"))

    @property
    def state(self) -> dict[str, torch.Tensor]:
        if self._state is None:
            self._state = state_dict(self.dir)
        return self._state

    def clips(self) -> list[torch.Tensor]:
        return [self.inputs[k] for k in sorted(k for k in self.inputs if k.startswith("clip"))]


_CASES: dict[str, Case] = {}


@pytest.fixture(scope="session")
def get_case(parity_root: Path):  # type: ignore[no-untyped-def]
    """``get_case(name)`` -> a cached ``Case`` (the state dict is rebuilt once per session)."""

    def get(name: str) -> Case:
        if name not in _CASES:
            _CASES.clear()  # keep one rebuilt checkpoint in memory at a time
            _CASES[name] = Case(parity_root / name)
        return _CASES[name]

    return get
