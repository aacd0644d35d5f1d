"""Tests of the recipe step that moves whole sources of a manifest into a split no training reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openclap.data.manifest import read_manifest
from tests.helpers import load_recipe

holdout = load_recipe("holdout_sources")


def _manifest(tmp_path: Path) -> Path:
    rows = [
        {
            "audio": "a.flac",
            "captions": ["a dog barks"],
            "split": "train",
            "source": "owner/packs@abc (GitHub)",
        },
        {"audio": "b.flac", "captions": ["rain"], "split": "val", "source": "owner/packs@abc (GitHub)"},
        {"audio": "c.flac", "captions": ["a door"], "split": "train", "source": "0ad-data"},
        {"audio": "d.flac", "captions": ["a bell"], "split": "val", "source": "0ad-data"},
    ]
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_every_clip_of_a_held_out_source_leaves_train_and_val(tmp_path: Path) -> None:
    src = _manifest(tmp_path)
    out = tmp_path / "heldout.jsonl"
    assert holdout.main(["--manifest", str(src), "--sources", "owner/packs", "--out", str(out)]) == 0
    got = read_manifest(out)
    assert [(Path(e.audio).name, e.split) for e in got] == [
        ("a.flac", "heldout"),
        ("b.flac", "heldout"),
        ("c.flac", "train"),
        ("d.flac", "val"),
    ]
    assert [e.audio for e in got] == [e.audio for e in read_manifest(src)]  # same files, same order
    assert read_manifest(src, split="heldout") == []  # the input is untouched


def test_a_source_that_matches_nothing_is_an_error_not_an_empty_hold_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _manifest(tmp_path)
    out = tmp_path / "heldout.jsonl"
    assert holdout.main(["--manifest", str(src), "--sources", "owner/pakcs", "--out", str(out)]) == 1
    assert "no clip has a source starting with 'owner/pakcs'" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("split", ["train", "val"])
def test_the_held_out_split_cannot_be_one_that_training_reads(tmp_path: Path, split: str) -> None:
    src = _manifest(tmp_path)
    with pytest.raises(SystemExit):
        holdout.main(
            ["--manifest", str(src), "--sources", "0ad", "--split", split, "--out", str(tmp_path / "o.jsonl")]
        )


def test_an_output_that_cannot_be_written_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _manifest(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    assert holdout.main(["--manifest", str(src), "--sources", "0ad", "--out", str(blocker / "m.jsonl")]) == 1
    assert f"error: --out {blocker / 'm.jsonl'}" in capsys.readouterr().err
