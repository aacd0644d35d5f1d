from __future__ import annotations

from pathlib import Path

import pytest

from openclap.data.builders import (
    TableSpec,
    build_preset,
    entries_from_rows,
    hash_split,
    render_captions,
    spoken_note,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def test_templates_with_empty_columns_are_skipped() -> None:
    templates = [
        "a {instrument} playing {note}",
        "the sound of a {instrument}",
        "the sound of a {instrument}",
    ]
    assert render_captions({"instrument": "cello", "note": ""}, templates) == ["the sound of a cello"]
    assert render_captions({"instrument": "cello", "note": "A4"}, templates)[0] == "a cello playing A4"


def test_hash_split_is_stable_and_holds_out_groups() -> None:
    assert hash_split("george") == hash_split("george")
    splits = [hash_split(str(i), 0.2, 0.1) for i in range(2000)]
    assert 0.15 < splits.count("val") / 2000 < 0.25 and 0.05 < splits.count("test") / 2000 < 0.15
    rows = [{"filename": f"{s}_{i}.wav", "speaker": s, "word": "one"} for s in "abcdefgh" for i in range(3)]
    spec = TableSpec(
        templates=["someone says {word}"], label_columns=["word"], group_column="speaker", val_fraction=0.4
    )
    entries = entries_from_rows(rows, "/data", spec)
    by_speaker: dict[str, set] = {}
    for row, entry in zip(rows, entries, strict=True):
        by_speaker.setdefault(row["speaker"], set()).add(entry.split)
    assert all(len(s) == 1 for s in by_speaker.values())
    assert entries[0].audio == "/data/a_0.wav" and entries[0].labels == ("one",)


def test_spoken_note() -> None:
    assert spoken_note("Gs4") == "G sharp 4" and spoken_note("A1") == "A 1" and spoken_note("") == ""


@pytest.mark.skipif(not (SHARED / "fsdd").is_dir(), reason="../shared/data is not present on this machine")
def test_presets_on_shared_data() -> None:
    fsdd = build_preset("fsdd", SHARED / "fsdd")
    assert len(fsdd) == 3000 and {e.split for e in fsdd} == {"train", "val"}
    assert all(("theo" in e.audio) == (e.split == "val") for e in fsdd)
    assert "a person saying the digit seven" in next(e for e in fsdd if e.labels == ("seven",)).captions
    phil = build_preset("philharmonia", SHARED / "philharmonia")
    assert len(phil) == 1602 and all(e.captions and e.labels for e in phil)
    cello = next(e for e in phil if e.labels == ("cello",))
    assert any("cello" in c for c in cello.captions)
