"""``openclap data ...`` through a parser built with ``register_cli`` (as openclap.cli does)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from openclap.data.cli import register_cli
from openclap.data.manifest import read_manifest
from tests.data.synthetic_audio import write_tone


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="openclap")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_build_check_and_shard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "audio").mkdir()
    rows = ["filename,category,speaker"]
    for i in range(6):
        write_tone(tmp_path / "audio" / f"{i}.wav", 300 + 100 * i)
        rows.append(f"audio/{i}.wav,{'dog' if i % 2 else 'rain'},s{i % 3}")
    (tmp_path / "metadata.csv").write_text("\n".join(rows) + "\n")
    manifest = tmp_path / "m.jsonl"
    code = _run(
        [
            "data",
            "build",
            "--out",
            str(manifest),
            "--metadata",
            str(tmp_path / "metadata.csv"),
            "--template",
            "the sound of {category}",
            "--template",
            "{category} recorded by {speaker}",
            "--label-column",
            "category",
            "--group-column",
            "speaker",
            "--val-fraction",
            "0.5",
        ]
    )
    assert code == 0
    entries = read_manifest(manifest)
    assert len(entries) == 6 and entries[1].captions == ("the sound of dog", "dog recorded by s1")
    assert _run(["data", "check", str(manifest), "--quiet"]) == 0
    assert "6 clips" in capsys.readouterr().out
    report = tmp_path / "problems.jsonl"
    (tmp_path / "audio" / "3.wav").unlink()
    assert _run(["data", "check", str(manifest), "--quiet", "--report", str(report)]) == 1
    assert json.loads(report.read_text())["kind"] == "missing"
    assert (
        _run(
            ["data", "shard", str(manifest), str(tmp_path / "shards"), "--samples-per-shard", "2", "--quiet"]
        )
        == 0
    )
    index = json.loads((tmp_path / "shards" / "index.json").read_text())
    assert index["total"] == 5 and len(index["skipped"]) == 1


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _run(["data", "--help"])
    out = capsys.readouterr().out
    assert all(word in out for word in ("check", "shard", "build"))
