"""Building and updating an index of real clips with the tiny model: windows, incremental updates, bad
and changing files, the writer lock and the model check."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from openclap import ClapModel, create_model, embed_audio, embed_audio_windows, load_mono
from openclap.index import BuildOptions, SoundIndex, SoundIndexError, build_index, update_index
from openclap.index.lock import WriterLock
from tests.index.conftest import rows


def test_build_then_search_finds_each_window(tiny_model: ClapModel, clip_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "idx"
    report = build_index([clip_dir], out, tiny_model)
    assert (report.embedded_files, report.embedded_windows, report.total_windows) == (4, 20, 20)
    stored = rows(out)
    first = sorted(str(p) for p in clip_dir.rglob("*.flac"))[0]
    # the stored windows are what inference's per-window embedding gives for that file
    expected, starts = embed_audio_windows(tiny_model, first)
    mine = [(s, v) for _, p, s, _, v in stored if p == first]
    assert [s for s, _ in mine] == list(starts)
    np.testing.assert_allclose(np.stack([v for _, v in mine]), expected, atol=1e-5)
    with SoundIndex.open(out, tiny_model) as index:
        assert len(index) == 20 and index.kind == "exact" and not index.stale
        by_id = {item_id: (path, start, end, vector) for item_id, path, start, end, vector in stored}
        matrix = np.stack([v for *_, v in stored])
        for query in matrix[::3]:  # exact search: the brute-force ranking, each hit's score its dot product
            hits = index.search_embedding(query, top_k=5)
            np.testing.assert_allclose([h.score for h in hits], np.sort(matrix @ query)[::-1][:5], atol=1e-6)
            for hit in hits:
                path, start, end, vector = by_id[hit.item_id]
                assert (hit.path, hit.start_seconds, hit.end_seconds) == (path, start, end)
                assert hit.score == pytest.approx(float(vector @ query), abs=1e-6)
        hits = index.search_text("a dog barking", top_k=5, path_prefix=str(clip_dir / "b") + "/")
        assert len(hits) == 5 and all(h.path.startswith(str(clip_dir / "b")) for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        item = index.item(hits[0].item_id)
        assert item.duration_seconds == pytest.approx(5.0) and len(item.sha256) == 64
        for unknown in (10_000, -1, 2**70):  # beyond SQLite's 64-bit integers too: the same error
            with pytest.raises(SoundIndexError, match="no indexed item"):
                index.item(unknown)


def test_update_embeds_only_changes(tiny_model: ClapModel, clip_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "idx"
    build_index([clip_dir], out, tiny_model)
    assert update_index(out, tiny_model).embedded_files == 0
    files = sorted(clip_dir.rglob("*.flac"))
    os.utime(files[0], ns=(1, 1))  # touched, same content: hashed, not embedded
    shutil.copyfile(files[2], files[1])  # new content
    files[3].unlink()
    before = {p: v for _, p, s, _, v in rows(out) if s == 0.0}
    report = update_index(out, tiny_model)
    assert (report.embedded_files, report.unchanged_files, report.removed_files) == (1, 2, 1)
    after = {p: v for _, p, s, _, v in rows(out) if s == 0.0}
    assert str(files[3]) not in after and len(rows(out)) == 15
    np.testing.assert_array_equal(after[str(files[1])], before[str(files[2])])
    np.testing.assert_array_equal(after[str(files[0])], before[str(files[0])])
    with SoundIndex.open(out, tiny_model) as index:
        assert len(index) == 15


def test_long_file_windows_have_their_times(tiny_model: ClapModel, clip_dir: Path, tmp_path: Path) -> None:
    """A 32.5 s recording made of real clips: 1 s windows every 1 s (the last aligned with the end), or
    every 0.5 s with hop_seconds; each window's vector is the embedding of that stretch of audio."""
    parts = [load_mono(p, 16000) for p in sorted(clip_dir.rglob("*.flac"))]
    wave = np.concatenate([*parts, parts[0], parts[1], parts[2][:40000]])  # 6 x 5 s + 2.5 s
    long_dir = tmp_path / "long"
    long_dir.mkdir()
    sf.write(long_dir / "field.wav", wave, 16000, subtype="FLOAT")
    sf.write(long_dir / "short.wav", wave[:6400], 16000, subtype="FLOAT")  # 0.4 s: one padded window
    build_index([long_dir], tmp_path / "idx", tiny_model)
    stored = rows(tmp_path / "idx")
    assert [(s, e) for _, p, s, e, _ in stored if p.endswith("short.wav")] == [(0.0, 0.4)]
    stored = [row for row in stored if row[1].endswith("field.wav")]
    assert [s for _, _, s, _, _ in stored] == [*map(float, range(32)), 31.5]
    assert [e for _, _, _, e, _ in stored][-2:] == [32.0, 32.5]
    expected = embed_audio(tiny_model, [wave[7 * 16000 : 8 * 16000]], 16000)[0]
    np.testing.assert_allclose(stored[7][4], expected, atol=1e-5)
    build_index([long_dir], tmp_path / "half", tiny_model, hop_seconds=0.5)
    starts = [s for _, p, s, _, _ in rows(tmp_path / "half") if p.endswith("field.wav")]
    assert starts == [i / 2 for i in range(64)]  # 31.5 + 1 s ends exactly at 32.5 s


def test_bad_files_are_reported_and_skipped(tiny_model: ClapModel, clip_dir: Path, tmp_path: Path) -> None:
    (clip_dir / "junk.wav").write_bytes(b"not audio at all")
    (clip_dir / "empty.flac").write_bytes(b"")
    report = build_index([clip_dir], tmp_path / "idx", tiny_model)
    problems = dict(report.errors)
    assert set(problems) == {str(clip_dir / "junk.wav"), str(clip_dir / "empty.flac")}
    assert "empty" in problems[str(clip_dir / "empty.flac")]
    assert report.embedded_files == 4 and report.total_windows == 20
    again = update_index(tmp_path / "idx", tiny_model)  # unchanged bad files are not retried
    assert (again.embedded_files, again.failed_before, again.errors) == (0, 2, [])


def test_file_changed_while_indexing_is_skipped(
    tiny_model: ClapModel, clip_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openclap.inference as inference

    victim = sorted(clip_dir.rglob("*.flac"))[1]
    real_load = inference.load_mono

    def load_then_edit(path: str, sample_rate: int) -> np.ndarray:
        wave = real_load(path, sample_rate)
        if Path(path) == victim:
            with open(victim, "ab") as fh:
                fh.write(b"\0" * 16)
        return wave

    monkeypatch.setattr(inference, "load_mono", load_then_edit)
    report = build_index([clip_dir], tmp_path / "idx", tiny_model, options=BuildOptions(workers=1))
    assert report.changed == [str(victim)] and report.embedded_files == 3
    assert str(victim) not in {p for _, p, _, _, _ in rows(tmp_path / "idx")}
    monkeypatch.undo()
    assert update_index(tmp_path / "idx", tiny_model).embedded_files == 1


def test_second_writer_is_refused_and_a_dead_writers_lock_is_not(
    tiny_model: ClapModel, clip_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "idx"
    build_index([clip_dir], out, tiny_model)
    with WriterLock(out), pytest.raises(SoundIndexError, match="another process is writing this index"):
        update_index(out, tiny_model)
    (out / ".lock").write_text("pid 999999 on a-crashed-host")  # left behind: flock died with its holder
    assert update_index(out, tiny_model).embedded_files == 0


def test_another_model_is_refused(tiny_model: ClapModel, clip_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "idx"
    build_index([clip_dir], out, tiny_model)
    torch.manual_seed(1)
    other = create_model("tiny-test")
    with pytest.raises(SoundIndexError, match=r"made by model .tiny-test. .* not by the model given"):
        SoundIndex.open(out, other)
    with pytest.raises(SoundIndexError, match="not by the model given"):
        update_index(out, other)
    with pytest.raises(SoundIndexError, match="cannot be loaded again"):
        SoundIndex.open(out)  # random weights: nothing recorded to load them from
    with pytest.raises(SoundIndexError, match="not an openclap index"):
        SoundIndex.open(clip_dir)
    with pytest.raises(SoundIndexError, match="exists and is not an openclap index"):
        build_index([clip_dir], clip_dir, tiny_model)


def test_windows_side_by_side_equal_one_batch_at_a_time(
    tiny_model: ClapModel, clip_dir: Path, tmp_path: Path
) -> None:
    """``embed_windows`` with batches side by side: the same files in order, the same windows, a bad file
    reported in its place."""
    from openclap.index.windows import embed_windows

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    files = sorted(str(p) for p in clip_dir.rglob("*.flac"))
    paths = [files[0], str(bad), *files[1:]]
    one = list(embed_windows(tiny_model, paths, batch_size=3, concurrent_batches=1))
    two = list(embed_windows(tiny_model, paths, batch_size=3, concurrent_batches=2))
    assert [p for p, _ in two] == [p for p, _ in one] == paths
    for (_, a), (_, b) in zip(one, two, strict=True):
        if isinstance(a, Exception):
            assert type(b) is type(a) and str(b) == str(a)
            continue
        assert a.starts == b.starts and a.ends == b.ends
        np.testing.assert_allclose(b.matrix(), a.matrix(), rtol=0, atol=1e-6)
