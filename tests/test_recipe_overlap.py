"""The decontamination check of the default-model recipe finds re-cut copies of real recordings.

A held-out "benchmark" folder of real FSDD and Philharmonia clips is searched in a corpus that holds a
re-cut, resampled, quieter copy of one of them among unrelated real recordings (other speakers saying
the same digit, the same instrument at other notes): exactly that pair must be reported.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from tests.helpers import load_recipe

co = load_recipe("check_overlap")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HELD = ["fsdd/audio/3_jackson_0.flac", "philharmonia/audio/cello/cello_A2_1_fortissimo_arco-normal.mp3"]
OTHERS = [
    "fsdd/audio/3_george_0.flac",
    "fsdd/audio/3_jackson_1.flac",
    "fsdd/audio/7_lucas_4.flac",
    "philharmonia/audio/cello/cello_A4_1_fortissimo_arco-normal.mp3",
    "philharmonia/audio/cello/cello_As2_1_mezzo-piano_arco-normal.mp3",
]

pytestmark = pytest.mark.skipif(
    not all((SHARED / p).exists() for p in HELD + OTHERS), reason="../shared/data clips are absent"
)


def _write_folder(folder: Path, files: list[str]) -> None:
    folder.mkdir()
    with open(folder / "metadata.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filename"])
        for rel in files:
            writer.writerow([str(SHARED / rel)])


def test_a_recut_resampled_copy_is_found_and_nothing_else(tmp_path: Path) -> None:
    wave, sr = sf.read(str(SHARED / HELD[1]), dtype="float32", always_2d=True)
    mono = wave.mean(axis=1)
    piece = mono[int(0.4 * sr) : int(2.0 * sr)] * 0.3  # re-cut, 10 dB quieter
    lead = np.zeros(int(0.7 * sr), np.float32)
    copy = soxr.resample(np.concatenate([lead, piece]), sr, 22050)  # another rate
    sf.write(tmp_path / "copy.flac", copy, 22050)
    corpus = [str(tmp_path / "copy.flac")] + [str(SHARED / p) for p in OTHERS]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps({"audio": p}) + "\n" for p in corpus))
    _write_folder(tmp_path / "held", HELD)
    out = tmp_path / "overlap.json"

    status = co.main(["--manifest", str(manifest), "--heldout", str(tmp_path / "held"), "--out", str(out)])

    matches = json.loads(out.read_text())
    assert status == 1
    assert [(m["heldout"], m["corpus"]) for m in matches] == [(str(SHARED / HELD[1]), corpus[0])]
    assert matches[0]["ber"] < 0.2
    assert matches[0]["offset_s"] == pytest.approx(0.7 - 0.4, abs=0.05)


def test_relative_paths_are_read_from_the_manifest_folder_and_unreadable_clips_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "corpus").mkdir()
    wave, sr = sf.read(str(SHARED / OTHERS[0]), dtype="float32")
    sf.write(tmp_path / "corpus" / "a.flac", wave, sr)
    (tmp_path / "corpus" / "bad.flac").write_bytes(b"not audio")
    manifest = tmp_path / "corpus" / "manifest.jsonl"
    manifest.write_text(json.dumps({"audio": "a.flac"}) + "\n")
    _write_folder(tmp_path / "held", HELD)
    args = ["--manifest", str(manifest), "--heldout", str(tmp_path / "held")]
    assert co.main(args) == 0  # read from the manifest's folder, not the working directory
    assert "1 clips" in capsys.readouterr().out
    manifest.write_text(json.dumps({"audio": "a.flac"}) + "\n" + json.dumps({"audio": "bad.flac"}) + "\n")
    assert co.main(args) == 1  # a clip that was not checked does not pass as clean
    assert "1 corpus clips could not be read" in capsys.readouterr().err


def test_unrelated_recordings_do_not_match(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps({"audio": str(SHARED / p)}) + "\n" for p in OTHERS))
    _write_folder(tmp_path / "held", HELD)
    assert co.main(["--manifest", str(manifest), "--heldout", str(tmp_path / "held")]) == 0


def test_bit_error_rate_of_identical_and_inverted_prints() -> None:
    codes = np.random.default_rng(0).integers(0, 1 << 32, size=100, dtype=np.uint64).astype(np.uint32)
    assert co.bit_error_rate(codes, codes, 0) == (0.0, 100)
    assert co.bit_error_rate(codes, ~codes, 0)[0] == 1.0
    assert co.bit_error_rate(codes[10:], codes, 10) == (0.0, 90)


def test_missing_inputs_and_an_unwritable_out_stop_before_any_fingerprinting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--manifest", str(tmp_path / "absent.jsonl"), "--heldout", str(tmp_path)]
    assert co.main([*args, "--out", str(tmp_path / "no" / "such" / "folder" / "o.json")]) == 2
    err = capsys.readouterr().err
    assert "absent.jsonl: manifest not found" in err and "no metadata.csv" in err
    assert "its folder does not exist or is not writable" in err
