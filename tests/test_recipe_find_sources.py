"""Tests of the Debian Contents-index search of the default-model data recipe (no download)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from tests.helpers import load_recipe

find = load_recipe("find_sources")

CONTENTS = [
    "usr/share/scratch/Media/Sounds/Human/BabyCry.mp3                 education/scratch\n",
    "usr/share/scratch/Media/Sounds/Human/Sneeze-male.wav             education/scratch\n",
    "usr/share/scratch/Media/Costumes/cat.png                          education/scratch\n",
    "usr/share/games/a/snd/door.ogg                                    games/a-data,games/b-data\n",
    "usr/share/games/a/snd/README                                      games/a-data\n",
]


def test_audio_files_keeps_audio_paths_and_every_owner() -> None:
    files = list(find.audio_files(CONTENTS))
    assert files == [
        ("usr/share/scratch/Media/Sounds/Human/BabyCry.mp3", "scratch"),
        ("usr/share/scratch/Media/Sounds/Human/Sneeze-male.wav", "scratch"),
        ("usr/share/games/a/snd/door.ogg", "a-data"),
        ("usr/share/games/a/snd/door.ogg", "b-data"),
    ]


def test_rank_orders_by_keyword_hits_then_audio_count() -> None:
    table = find.rank(find.audio_files(CONTENTS), re.compile("sneez|baby", re.IGNORECASE))
    assert table[0] == ("scratch", 2, 2, ["BabyCry.mp3", "Sneeze-male.wav"])
    assert [row[0] for row in table[1:]] == ["a-data", "b-data"] and table[1][2] == 0


def test_main_prints_a_table_from_a_local_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "Contents-all.gz"
    with gzip.open(index, "wt", encoding="utf-8") as fh:
        fh.writelines(CONTENTS)
    assert find.main(["--contents", str(index), "--keywords", "door", "--top", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].split()[:5] == ["a-data", "1", "audio", "1", "hits"]


def test_repo_folders_are_ranked_like_packages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "sounds"
    for rel in ("amb/birds/bird1.ogg", "amb/birds/bird2.ogg", "amb/birds/notes.txt", "steps/grass1.ogg"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(b"")
    (repo / ".git").mkdir()
    (repo / ".git" / "x.ogg").write_bytes(b"")  # git's own files are not the repository's
    assert find.main(["--repo", str(repo), "--keywords", "bird"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:4] for line in lines] == [
        ["sounds:amb/birds", "2", "audio", "2"],
        ["sounds:steps", "1", "audio", "0"],
    ]
