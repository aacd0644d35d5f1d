"""End to end with a published-format checkpoint: the seeded msclap-2022 parity checkpoint served by a
local Hub under its real repository and file name; `openclap classify --model msclap-2022` downloads,
verifies, converts and classifies a real clip (the converted weights equal the published ones; that a
second start touches no network is test_pretrained.py's check, here too costly to repeat at this size)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from openclap.hub import find_entry
from openclap.hub.pretrained import converted_dir
from tests.hub.local_hub import LocalHub, sha256_of

ROOT = Path(__file__).resolve().parents[2]
PARITY = ROOT.parent / "shared" / "parity" / "msclap-2022"
CLIP = ROOT.parent / "shared" / "data" / "fsdd" / "audio" / "0_george_0.flac"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "OPENCLAP_"))}
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env | extra


def test_no_weights_no_network_is_a_one_line_error(tmp_path: Path) -> None:
    """The issue's done-when: create_model('msclap-2022') without weights or network exits non-zero."""
    env = _env(HF_HOME=str(tmp_path), HF_ENDPOINT="http://127.0.0.1:9")  # nothing listens on port 9
    run = subprocess.run([sys.executable, "-c", "import openclap; openclap.create_model('msclap-2022')"],
                         env=env, capture_output=True, text=True, timeout=120)
    last = run.stderr.strip().splitlines()[-1]
    assert run.returncode != 0
    print(f"exit status {run.returncode}; last stderr line: {last}")  # shown with pytest -s
    assert last.startswith("openclap.hub.pretrained.WeightsNotFoundError: msclap-2022:")
    assert "`openclap pull msclap-2022`" in last and "cannot reach 127.0.0.1:9" in last


def _rule() -> Any:
    spec = importlib.util.spec_from_file_location("parity_rule", ROOT / "tests" / "parity" / "rule.py")
    rule = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(rule)  # type: ignore[union-attr]
    return rule


def _seeded_checkpoint(folder: Path) -> Path:
    path = folder / "CLAP_weights_2022.pth"
    torch.save({"model": _rule().state_dict(PARITY)}, path)  # msclap's published format
    return path


@pytest.mark.slow
def test_msclap_2022_by_name_from_a_local_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not (PARITY / "keys.json").is_file() or not CLIP.is_file():
        pytest.skip("needs ../shared/parity/msclap-2022 and ../shared/data/fsdd")
    published = _seeded_checkpoint(tmp_path)
    shipped = find_entry("msclap-2022")
    assert shipped is not None and shipped.repo is not None
    file = {"name": "CLAP_weights_2022.pth", "size": published.stat().st_size, "sha256": sha256_of(published)}
    hub_at = {"repo": shipped.repo, "revision": shipped.revision}
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"models": {"msclap-2022": {
        "config": "msclap-2022", "family": "msclap", "hub": hub_at, "files": [file]}}}))
    home = tmp_path / "home"
    with LocalHub() as hub:
        hub.add_hub_file(shipped.repo, shipped.revision, "CLAP_weights_2022.pth", published)
        env = _env(HF_HOME=str(home), HF_ENDPOINT=hub.endpoint, OPENCLAP_REGISTRY=str(registry))
        run = subprocess.run([sys.executable, "-m", "openclap.cli", "classify", "--model", "msclap-2022",
                              "--labels", "spoken digit zero,dog bark,siren", "--top-k", "1", str(CLIP)],
                             env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
        print(run.stdout, run.stderr, sep="\n")  # shown with pytest -s
        assert run.stdout.startswith(str(CLIP)) and "warning" not in run.stderr
        assert len(hub.gets("CLAP_weights_2022.pth")) == 1
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("OPENCLAP_REGISTRY", str(registry))
    converted = converted_dir(find_entry("msclap-2022")) / "model.safetensors"  # type: ignore[arg-type]
    with safe_open(str(converted), framework="pt") as fh:  # the converted weights are the published ones
        fc1 = fh.get_tensor("audio_encoder.fc1.weight")
    assert torch.equal(fc1, _rule().value("audio_encoder.base.fc1.weight", tuple(fc1.shape)))
