"""The done-when check on a small subset of ESC-50 fold 4 (evaluation only) with the shipped model:
a text query and an example clip find the dog clips among 16 dog, rain, church-bell and clock-tick
clips (three of the four first, the odd one within the top 10), and a second update embeds nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from openclap import create_model
from openclap.index import SoundIndex, build_index, update_index
from tests.helpers import ESC50_AUDIO

CATEGORIES = ("dog", "rain", "church_bells", "clock_tick")


@pytest.mark.slow
def test_dog_query_finds_dogs(tmp_path: Path) -> None:
    if not ESC50_AUDIO.is_dir():
        pytest.skip(f"real audio not found at {ESC50_AUDIO}")
    with open(ESC50_AUDIO.parent / "metadata.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["category"] in CATEGORIES]
    chosen = {c: [Path(r["filename"]).name for r in rows if r["category"] == c][:4] for c in CATEGORIES}
    category = {name: c for c, names in chosen.items() for name in names}
    folder = tmp_path / "esc"
    folder.mkdir()
    for name in category:
        (folder / name).symlink_to(ESC50_AUDIO / name)
    model = create_model()  # the shipped default
    report = build_index([folder], tmp_path / "idx", model)
    assert (report.embedded_files, report.total_windows) == (16, 16)
    with SoundIndex.open(tmp_path / "idx") as index:  # the model the index records, loaded again
        text = [category[Path(h.path).name] for h in index.search_text("a dog barking", top_k=16)]
        like = [category[Path(h.path).name] for h in index.search_file(folder / chosen["dog"][1], top_k=16)]
    # measured with openclap-yamnet v12: for the text the three barking dogs first (cosine 0.54-0.56), then
    # church bells (0.20), and the fourth dog clip (4-182395-A-0, which the README's five-way check also
    # hears as a hand saw) 10th at 0.05; v11 had it 4th at 0.20, v7 too. For the example: the clip itself,
    # two more dogs (0.90), then clock_tick, church_bells, rain (0.10-0.13).
    assert text[:3] == ["dog"] * 3, text
    assert "dog" in text[3:10], text  # the fourth dog is found, if late
    assert like[:3] == ["dog"] * 3, like
    assert update_index(tmp_path / "idx", model).embedded_files == 0
