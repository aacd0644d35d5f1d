"""``openclap index build|update`` and ``openclap search`` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openclap.cli import main


def test_build_search_update_and_errors(
    tiny_checkpoint: Path, clip_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "idx"
    (clip_dir / "junk.wav").write_bytes(b"junk")
    assert main(["index", "build", str(clip_dir), "--out", str(out), "--checkpoint", str(tiny_checkpoint),
                 "--quiet"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert f"skipped {clip_dir / 'junk.wav'}: cannot decode audio" in err and "embedded 4 (20 windows)" in err

    assert (
        main(["search", str(out), "a dog barking", "--top-k", "3", "--json", "--prefix", str(clip_dir / "b")])
        == 0
    )
    hits = json.loads(capsys.readouterr().out)
    assert [h["rank"] for h in hits] == [1, 2, 3] and all(
        h["path"].startswith(str(clip_dir / "b")) for h in hits
    )
    assert set(hits[0]) == {"rank", "item_id", "path", "start_seconds", "end_seconds", "score"}
    like = str(sorted(clip_dir.rglob("*.flac"))[0])
    assert main(["search", str(out), "--like", like, "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].split()[0] == "1" and lines[0].endswith(" s")

    assert main(["index", "update", str(out), "--quiet"]) == 0  # the recorded checkpoint is loaded
    assert "embedded 0 (0 windows), 5 unchanged" in capsys.readouterr().err

    errors = {
        "the text query is empty": ["search", str(out), "  "],
        "cannot decode audio": ["search", str(out), "--like", str(clip_dir / "junk.wav")],
        "no such index": ["search", str(tmp_path / "missing"), "dog"],
        "not an openclap index": ["search", str(clip_dir), "dog"],
        "give either a text QUERY or --like": ["search", str(out)],
        "not by the model given": ["search", str(out), "dog", "--model", "tiny-test"],
        "--top-k must be at least 1": ["search", str(out), "dog", "--top-k", "0"],
        "no such file or folder to index": ["index", "build", str(tmp_path / "nope"),
                                            "--out", str(tmp_path / "x"), "--model", "tiny-test"],
    }  # fmt: skip
    for message, argv in errors.items():
        assert main(argv) == 2, argv
        last = capsys.readouterr().err.strip().splitlines()[-1]  # after a random-weights warning, if any
        assert last.startswith("error: ") and message in last, (argv, last)
    for option in ("--batch-size", "--workers", "--commit-every"):  # refused before any work is done
        argv = ["index", "build", str(clip_dir), "--out", str(tmp_path / "y"), "--model", "tiny-test"]
        argv += [option, "0"]
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2 and f"{option}: must be at least 1, got 0" in capsys.readouterr().err
        assert not (tmp_path / "y").exists()


BUILD = """
import sys
import openclap.cli as cli
code = cli.main(sys.argv[1:])
print("transformers loaded:", "transformers" in sys.modules, file=sys.stderr)
sys.exit(code)
"""


def _in_a_fresh_process(argv: list[str], cache_dir: Path) -> bool:
    """Run ``openclap ARGV`` in a new interpreter; whether it imported transformers."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "OPENCLAP_CACHE_DIR": str(cache_dir)}
    command = [sys.executable, "-c", BUILD, *argv]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return "transformers loaded: True" in done.stderr


def test_a_second_build_from_the_same_files_builds_no_text_tower(
    tiny_checkpoint: Path, clip_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first build loads the whole model and remembers its fingerprint; the next from the same
    unchanged checkpoint loads it audio-only, records the same fingerprint, and the index searches; so
    does an update that names no model (the index's own checkpoint) and a search by example; a checkpoint
    whose modification time moved is loaded whole again."""
    import os
    import sqlite3

    def recorded(index: Path) -> str:
        conn = sqlite3.connect(str(index / "index.sqlite"))
        try:
            return conn.execute("SELECT value FROM meta WHERE key = 'model_fingerprint'").fetchone()[0]
        finally:
            conn.close()

    argv = ["index", "build", str(clip_dir), "--checkpoint", str(tiny_checkpoint), "--quiet"]
    assert _in_a_fresh_process([*argv, "--out", str(tmp_path / "a")], tmp_path / "cache")
    assert not _in_a_fresh_process([*argv, "--out", str(tmp_path / "b")], tmp_path / "cache")
    assert not _in_a_fresh_process(["index", "update", str(tmp_path / "a"), "--quiet"], tmp_path / "cache")
    like = str(sorted(clip_dir.rglob("*.flac"))[0])
    assert not _in_a_fresh_process(["search", str(tmp_path / "a"), "--like", like], tmp_path / "cache")
    assert recorded(tmp_path / "b") == recorded(tmp_path / "a")
    assert main(["search", str(tmp_path / "b"), "a dog barking", "--top-k", "2", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2  # search checks the whole model's fingerprint

    weights = next(p for p in tiny_checkpoint.iterdir() if p.suffix == ".safetensors")
    stat = weights.stat()
    try:
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        assert _in_a_fresh_process([*argv, "--out", str(tmp_path / "c")], tmp_path / "cache")
    finally:
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the checkpoint is the session's
    assert recorded(tmp_path / "c") == recorded(tmp_path / "a")
