from __future__ import annotations

from pathlib import Path

import pytest

from openclap.data.manifest import (
    ManifestEntry,
    ManifestError,
    check_manifest,
    read_manifest,
    write_manifest,
)
from tests.data.synthetic_audio import write_tone


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_round_trip_with_relative_paths(
    tone_entries: list[ManifestEntry], tmp_path: Path, suffix: str
) -> None:
    path = write_manifest(tone_entries, tmp_path / f"manifest{suffix}")
    assert str(tmp_path) not in path.read_text()  # stored relative to the manifest
    assert read_manifest(path) == tone_entries
    assert [e.split for e in read_manifest(path, split="val")] == ["val", "val"]


def test_csv_accepts_plain_caption_and_label(tmp_path: Path) -> None:
    write_tone(tmp_path / "a.wav", 440)
    (tmp_path / "m.csv").write_text("audio,captions,labels\na.wav,a beep,tone\n")
    entry = read_manifest(tmp_path / "m.csv")[0]
    assert entry.captions == ("a beep",) and entry.labels == ("tone",) and entry.split is None
    assert Path(entry.audio) == tmp_path / "a.wav"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"audio": "a.wav", "captions": []}', "no caption"),
        ('{"audio": "a.wav", "captions": ["ok", " "]}', "empty or non-text caption"),
        ('{"captions": ["x"]}', "empty 'audio'"),
        ('{"audio": "a.wav", "captions": "[broken"}', "not a valid JSON list"),
        ("not json", "invalid JSON"),
    ],
)
def test_invalid_rows_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"audio": "ok.wav", "captions": ["fine"]}\n' + line + "\n")
    with pytest.raises(ManifestError, match=rf"m\.jsonl:2: .*{message}"):
        read_manifest(path)


def test_extra_fields_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"audio": "a.wav", "captions": ["x"], "duration": 2.5, "orig": "pkg/a.ogg"}\n')
    entry = read_manifest(path)[0]
    assert entry.extra == {"duration": 2.5, "orig": "pkg/a.ogg"}
    again = read_manifest(write_manifest([entry], tmp_path / "copy.csv"))[0]
    assert again.extra == {"duration": "2.5", "orig": "pkg/a.ogg"}  # CSV keeps text


def test_check_reports_missing_corrupt_short_and_duplicates(tmp_path: Path) -> None:
    write_tone(tmp_path / "good.flac", 440, seconds=0.5)
    write_tone(tmp_path / "short.flac", 440, seconds=0.02)
    (tmp_path / "corrupt.flac").write_bytes(b"\x00garbage" * 50)
    rows = ["good.flac", "short.flac", "corrupt.flac", "missing.flac", "good.flac"]
    entries = [ManifestEntry(audio=str(tmp_path / r), captions=("c",), split="train") for r in rows]
    path = write_manifest(entries, tmp_path / "m.jsonl")
    report = check_manifest(path, min_seconds=0.1)
    assert [p for p, _ in report.missing] == [str(tmp_path / "missing.flac")]
    assert [p for p, _ in report.corrupt] == [str(tmp_path / "corrupt.flac")]
    assert [p for p, _ in report.too_short] == [str(tmp_path / "short.flac")]
    assert len(report.duplicates) == 1 and not report.ok and report.bad == 3
    assert "missing 1, corrupt 1, too short 1, duplicate paths 1" in report.summary()
    quick = check_manifest(path, min_seconds=0.1, decode=False)
    assert len(quick.missing) == 1 and len(quick.too_short) == 1
