"""The embedding file format (``openclap.embeddings_io``): both containers, the model recorded, offsets,
atomic writes, clear errors; and the recipe's teacher files going through it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openclap.embeddings_io import EmbeddingFileError, read_embeddings, write_embeddings
from openclap.train.distill import TeacherTargets
from tests.helpers import load_recipe

EMB = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
PATHS = ["a.wav", "b/ü c.flac", "d.ogg"]


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_round_trip_records_the_model(tmp_path: Path, suffix: str) -> None:
    out = write_embeddings(tmp_path / f"e{suffix}", PATHS, EMB, model="openclap-small")
    data = read_embeddings(out)
    assert data.paths == PATHS and data.model == "openclap-small"
    assert data.embeddings.dtype == np.float32 and np.array_equal(data.embeddings, EMB)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left behind
    empty = read_embeddings(write_embeddings(tmp_path / f"none{suffix}", [], np.zeros((0, 4))))
    assert empty.paths == [] and empty.embeddings.shape[0] == 0 and empty.model is None


def test_npz_offsets_and_extras_and_plain_numpy(tmp_path: Path) -> None:
    out = write_embeddings(
        tmp_path / "blocks.npz", ["x", "y"], EMB, offsets=[0, 1, 3], extra={"hop_seconds": 1.5}
    )
    data = read_embeddings(out)
    assert np.array_equal(data.rows_of(1), EMB[1:3]) and float(data.extra["hop_seconds"]) == 1.5
    with np.load(out, allow_pickle=False) as raw:  # readable without openclap
        assert sorted(raw.files) == ["embeddings", "hop_seconds", "offsets", "paths"]


def test_bad_files_name_the_file_and_the_problem(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingFileError, match=r"must end in \.npz or \.parquet"):
        write_embeddings(tmp_path / "e.csv", PATHS, EMB)
    with pytest.raises(EmbeddingFileError, match="3 paths but 2 embedding rows"):
        write_embeddings(tmp_path / "e.npz", PATHS, EMB[:2])
    with pytest.raises(EmbeddingFileError, match="'offsets' must be"):
        write_embeddings(tmp_path / "e.npz", ["x"], EMB, offsets=[0, 2])
    with pytest.raises(EmbeddingFileError, match=r"need \.npz"):
        write_embeddings(tmp_path / "e.parquet", ["x"], EMB, offsets=[0, 3])
    np.savez(tmp_path / "old.npz", keys=np.array(["x"]), embeddings=EMB[:1])
    with pytest.raises(EmbeddingFileError, match=r"old\.npz: lacks \['paths'\]"):
        read_embeddings(tmp_path / "old.npz")
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(EmbeddingFileError, match=r"cut\.npz: not a readable embedding file"):
        read_embeddings(tmp_path / "cut.npz")
    with pytest.raises(EmbeddingFileError, match="not found"):
        read_embeddings(tmp_path / "gone.parquet")


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    out = write_embeddings(tmp_path / "e.npz", PATHS, EMB, model="first")
    with pytest.raises(EmbeddingFileError):
        write_embeddings(out, PATHS, EMB, extra={"paths": np.zeros(1)})  # clashes with a field
    assert read_embeddings(out).model == "first"


def test_teacher_recipe_files_feed_distillation(tmp_path: Path) -> None:
    teacher = load_recipe("teacher")
    clips = {str(tmp_path / f"{n}.wav"): row for n, row in zip("abc", EMB, strict=True)}
    teacher._save_clips(tmp_path / "teacher.npz", clips)
    blocks = {str(tmp_path / "a.wav"): EMB[:2], str(tmp_path / "b.wav"): EMB[2:]}
    teacher._save_blocks(tmp_path / "teacher_blocks.npz", blocks)
    assert read_embeddings(tmp_path / "teacher.npz").model == teacher.TEACHER_NAME
    loaded = teacher._load_blocks(tmp_path / "teacher_blocks.npz")
    assert all(np.array_equal(loaded[k], v) for k, v in blocks.items())
    targets = TeacherTargets(tmp_path / "teacher.npz", tmp_path / "teacher_blocks.npz")
    assert targets.dim == 4 and len(targets.index) == 3 and len(targets.blocks) == 2
