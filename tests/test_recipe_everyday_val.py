"""Tests of the everyday validation set recipe: real recordings in a clone's layout -> labelled clips."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from openclap.data.manifest import read_manifest
from tests.helpers import load_recipe

everyday = load_recipe("everyday_val")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A plain clone of the repository's layout holding real recordings (Philharmonia MP3s, FSDD)."""
    if not (DATA / "philharmonia").is_dir():
        pytest.skip(f"{DATA / 'philharmonia'} is absent")
    root = tmp_path / "repos" / "remvze" / "moodist"
    sounds = root / "public" / "sounds"
    for folder in ("animals", "rain", "noise", "things"):
        (sounds / folder).mkdir(parents=True)
    (root / "README.md").write_text("moodist\n")
    mp3 = sorted((DATA / "philharmonia" / "audio" / "cello").glob("*.mp3"))[0]
    shutil.copy(mp3, sounds / "animals" / "dog-barking.mp3")
    shutil.copy(mp3, sounds / "noise" / "white-noise.mp3")  # synthetic sounds are left out
    digits = [sf.read(DATA / "fsdd" / "audio" / f"{d}_george_0.flac")[0] for d in range(10)]
    long = np.concatenate(digits * 8)  # about 30 s of real speech at 8 kHz
    sf.write(sounds / "rain" / "light-rain.flac", long.astype(np.float32), 8000)
    sf.write(sounds / "things" / "ceiling-fan.wav", np.zeros(8000 * 3, np.float32), 8000)  # silent
    (sounds / "things" / "clock.mp3").write_bytes(b"not audio at all")  # corrupt
    return tmp_path / "repos"


def test_named_recordings_become_labelled_clips_of_a_split_no_training_reads(
    clone: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "everyday"
    assert everyday.main(["--repos", str(clone), "--out", str(out), "--windows", "3", "--seconds", "10"]) == 0
    text = capsys.readouterr()
    entries = read_manifest(out / "manifest.jsonl")
    by_label: dict[str, list] = {}
    for e in entries:
        by_label.setdefault(e.labels[0], []).append(e)
    assert sorted(by_label) == ["dog barking", "light rain"]  # noise/, the silent and the corrupt file: out
    assert {e.split for e in entries} == {"everyday"}
    assert len(by_label["dog barking"]) == 1  # shorter than one window: the whole recording once
    rain = by_label["light rain"]
    assert len(rain) == 3 and [e.extra["duration"] for e in rain] == [10.0, 10.0, 10.0]
    starts = [e.extra["start"] for e in rain]
    assert starts == sorted(starts) and starts[0] < starts[1] < starts[2]
    for e in entries:  # real, decodable audio at most 32 kHz, mono
        info = sf.info(e.audio)
        assert info.channels == 1 and info.samplerate <= 32000 and info.format == "FLAC"
    assert "ceiling-fan.wav window 0" in text.out and "quieter than -60 dBFS" in text.out
    assert "skipped public/sounds/things/clock.mp3: cannot decode" in text.err


def test_windows_cover_the_recording_evenly() -> None:
    wave = np.arange(100, dtype=np.float32)
    got = everyday.windows(wave, 1, 3, 20)
    assert [(start, len(clip)) for start, clip in got] == [(6.0, 20), (40.0, 20), (73.0, 20)]
    assert everyday.windows(wave, 1, 3, 200)[0][1] is wave
    assert everyday.label_of("public/sounds/rain/rain-on-window.mp3") == "rain on window"


def test_a_missing_repository_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert everyday.main(["--repos", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert "remvze/moodist is not under" in capsys.readouterr().err
