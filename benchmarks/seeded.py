"""Models with the parity cases' seeded weights (``../shared/parity``), shared by the speed, precision and
export benchmarks: each case is rebuilt in its published file format and converted with openclap, as
``tests/parity`` does, so its numbers are those of a real published layout with known weights."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "parity"))  # the shared test harness

from harness import write_published
from rule import CASES, parity_dir, state_dict

from openclap.convert import convert
from openclap.model import ClapModel

__all__ = ["CASES", "ParityCase", "parity_case"]


class ParityCase:
    """A converted parity model with the case's stored clips (at the model's rate) and token ids."""

    def __init__(
        self, name: str, model: ClapModel, inputs: dict[str, torch.Tensor], texts: list[str]
    ) -> None:
        self.name = name
        self.model = model
        self.clips = [inputs[k] for k in sorted(k for k in inputs if k.startswith("clip"))]
        self.tokens = {k: inputs[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in inputs}
        self.texts = texts


def parity_case(name: str) -> ParityCase:
    """Rebuild, write and convert parity case ``name``; raises SystemExit when the vectors are absent."""
    root = parity_dir()
    if root is None:
        raise SystemExit("parity vectors not found (../shared/parity or $OPENCLAP_PARITY_DIR)")
    with tempfile.TemporaryDirectory() as tmp:
        src = write_published(name, state_dict(root / name), Path(tmp))
        model = convert(src, Path(tmp) / "openclap").eval()
    inputs = load_file(str(root / name / "inputs.safetensors"))
    texts = json.loads((root / name / "inputs.json").read_text())["texts"]
    return ParityCase(name, model, inputs, texts)
