"""A small run of benchmarks/serve_load.py against the real ``openclap serve`` command in a subprocess."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest

from tests.serve.conftest import esc50_clips

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"


def load_script():
    spec = importlib.util.spec_from_file_location("serve_load", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_cli_server_answers_mixed_concurrent_load_without_errors(index_dir: Path) -> None:
    load = load_script()
    clips = [paths[0] for paths in esc50_clips().values()]
    with load.serve(str(index_dir), ["--threads", "1"]) as url:  # the index's recorded tiny checkpoint
        specs = load.build_requests(clips, load.first_items(url), 100)
        result = asyncio.run(load.run_load(url, specs, clients=10, max_seconds=120))
    summary = load.summarize(result)
    assert result["errors"] == [] and not summary["timed_out"]
    assert {kind: row["count"] for kind, row in summary["kinds"].items()} == {
        **dict.fromkeys(load.KINDS, 20),
        "all": 100,
    }
    assert 0 < summary["kinds"]["all"]["p50_ms"] <= summary["kinds"]["all"]["p99_ms"]
