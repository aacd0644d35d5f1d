"""The seeded weight rule of ``../shared/parity/README.md`` §2 and the state-dict rebuild.

Every parity case stores only a key list (``keys.json``); the weights are regenerated from each key's
name, so the tests never need the (large) checkpoints on disk.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zlib
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

CASES = (
    "msclap-2022",
    "msclap-2023",
    "laion-htsat-tiny-unfused",
    "laion-htsat-tiny-fusion",
    "hf-clap",
)


def parity_dir() -> Path | None:
    """``$OPENCLAP_PARITY_DIR`` or ``../shared/parity`` next to the repository root; None if absent."""
    env = os.environ.get("OPENCLAP_PARITY_DIR")
    root = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "parity"
    return root if (root / "README.md").is_file() else None


def value(key: str, shape: tuple[int, ...]) -> torch.Tensor:
    """The deterministic tensor the rule assigns to checkpoint key ``key``."""
    g = torch.Generator().manual_seed(zlib.crc32(key.encode("utf-8")))
    z = torch.randn(shape, generator=g, dtype=torch.float32)
    if key.endswith("running_var"):
        return 0.5 + z.abs() * 0.5
    if key.endswith("running_mean"):
        return 0.1 * z
    if key.startswith("logit_scale"):
        return torch.full(shape, math.log(1 / 0.07))
    if len(shape) == 1 and key.endswith(".weight"):
        return 1 + 0.1 * z
    if len(shape) >= 3:  # conv kernels: zero-mean per output filter, He scale; float64 then one rounding
        zd = z.double()
        zd = zd - zd.mean(dim=tuple(range(1, len(shape))), keepdim=True)
        return (zd * math.sqrt(2.0 / (zd.numel() // shape[0]))).float()
    return 0.02 * z


def key_entries(case_dir: str | Path) -> list[dict[str, Any]]:
    return list(json.loads((Path(case_dir) / "keys.json").read_text()))


FIXTURE_CASES = ("hf-clap-htsat-fused", "laion-htsat-base")  # made by benchmarks/parity_fixtures.py


def case_dir(name: str) -> Path | None:
    """A shared case under ``parity_dir()``, or one of this repository's ``tests/parity/fixtures``."""
    if name in FIXTURE_CASES:
        return Path(__file__).resolve().parent / "fixtures" / name
    root = parity_dir()
    return root / name if root is not None else None


def case_data(name: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[str]]:
    """(inputs, expected outputs, texts) of a case; a fixture's inputs are a shared case's, named in its
    ``inputs.json``."""
    folder = case_dir(name)
    if folder is None:
        raise FileNotFoundError(f"parity case {name}: ../shared/parity not found")
    info = json.loads((folder / "inputs.json").read_text())
    source = folder
    if "inputs" in info:
        root = parity_dir()
        if root is None:
            raise FileNotFoundError(f"parity case {name} reads its inputs from ../shared/parity: not found")
        source = root / Path(info["inputs"]).parent.name
    inputs = load_file(str(source / "inputs.safetensors"))
    return inputs, load_file(str(folder / "expected.safetensors")), list(info["texts"])


def _entry_tensor(case: Path, e: dict[str, Any], files: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
    if e["kind"] == "seeded":
        v = value(e.get("seed_key", e["name"]), tuple(e.get("seed_shape", e["shape"])))
        return v[e["rows"][0] : e["rows"][1]] if "rows" in e else v
    if "same_as" in e:  # a fixture's buffer: a bit-identical tensor of a shared case
        other = case_dir(e["same_as"][0])
        if other is None:
            raise FileNotFoundError(f"{case.name} needs the shared parity case {e['same_as'][0]}")
        target = next(x for x in key_entries(other) if x["name"] == e["same_as"][1])
        return _entry_tensor(other, target, files.setdefault(str(other), {}))
    if e["file"] not in files:
        files[e["file"]] = load_file(str(case / e["file"]))
    return files[e["file"]][e["tensor"]]


def state_dict(case_dir: str | Path) -> dict[str, torch.Tensor]:
    """Rebuild the case's checkpoint state dict in the published key layout."""
    case = Path(case_dir)
    files: dict[str, Any] = {}
    return {e["name"]: _entry_tensor(case, e, files).contiguous() for e in key_entries(case)}


def tensor_sha256(t: torch.Tensor) -> str:
    """SHA-256 of the raw little-endian C-order bytes (bool as one byte per element)."""
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def mismatched_keys(case_dir: str | Path, sd: dict[str, torch.Tensor]) -> list[str]:
    """Keys whose shape, dtype or sha256 differ from ``keys.json`` (empty when all match)."""
    bad = []
    for e in key_entries(case_dir):
        t = sd.get(e["name"])
        if (
            t is None
            or list(t.shape) != e["shape"]
            or str(t.dtype).removeprefix("torch.") != e["dtype"]
            or tensor_sha256(t) != e["sha256"]
        ):
            bad.append(e["name"])
    return bad
