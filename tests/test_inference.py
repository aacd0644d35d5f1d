"""Embedding helpers: files and arrays, bad files in a batch, determinism, long audio, windows, and the
bad inputs of the issue (1-sample clip, 6-channel 96 kHz 24-bit file, 1-hour file)."""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
import torch.nn.functional as F

from openclap import (
    AudioError,
    ClapModel,
    create_model,
    embed_audio,
    embed_audio_files,
    embed_audio_windows,
    embed_texts,
    find_audio_files,
    inference,
)
from tests.helpers import exact_pcm, noise, sine, write

CONFIGS = Path(__file__).resolve().parents[1] / "src" / "openclap" / "model_configs"
SR = 16000  # tiny-test: 16 kHz, 1 s clips


def _encode(model: ClapModel, waves: list[np.ndarray]) -> np.ndarray:
    """Reference: fit each mono 16 kHz clip with the model's policy and encode them one by one."""
    with torch.inference_mode():
        rows = [model.encode_audio(model.prepare_waveforms([torch.from_numpy(w)]))[0] for w in waves]
    return torch.stack(rows).numpy()


@pytest.fixture
def clips(tmp_path: Path) -> dict[str, Path]:
    """Five good files of different lengths, rates, channel counts and formats."""
    return {
        "a": write(tmp_path / "a.wav", noise(8000, seed=1), SR, "FLOAT"),
        "b": write(tmp_path / "sub" / "b.flac", sine(440, 0.7, 22050), 22050, "PCM_24"),
        "c": write(tmp_path / "c.wav", noise(SR, seed=3, channels=2).T, SR, "FLOAT"),
        "d": write(tmp_path / "sub" / "deeper" / "d.ogg", sine(1000, 1.5, 44100, 0.3), 44100, "VORBIS"),
        "e": write(tmp_path / "e.aiff", noise(2 * SR, seed=5), SR, "FLOAT"),
    }


# ----- texts ---------------------------------------------------------------------------------------


def test_embed_texts(tiny_model: ClapModel) -> None:
    texts = [f"sound number {i}" for i in range(7)]
    emb = embed_texts(tiny_model, texts, batch_size=3)
    assert emb.shape == (7, tiny_model.config.projection.dim) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(emb, embed_texts(tiny_model, texts), rtol=0, atol=1e-6)
    assert embed_texts(tiny_model, []).shape == (0, tiny_model.config.projection.dim)
    with pytest.raises(TypeError, match="list of strings"):
        embed_texts(tiny_model, "one string")


# ----- finding files -----------------------------------------------------------------------------


def test_find_audio_files(tmp_path: Path, clips: dict[str, Path]) -> None:
    (tmp_path / "notes.txt").write_text("not audio")
    (tmp_path / "sub" / "LOUD.WAV").write_bytes(b"")
    explicit = tmp_path / "notes.txt"
    found = find_audio_files([tmp_path, explicit, tmp_path / "missing.wav"])
    in_folder = sorted(str(p) for p in [*clips.values(), tmp_path / "sub" / "LOUD.WAV"])
    assert found == [*in_folder, str(explicit), str(tmp_path / "missing.wav")]


# ----- files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 3])
def test_batch_with_bad_files_reports_them_and_embeds_the_rest(
    tiny_model: ClapModel, tmp_path: Path, clips: dict[str, Path], workers: int
) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "text.wav"
    text.write_text("hello")
    nan = write(tmp_path / "nan.wav", np.full(100, np.nan, np.float32), SR, "FLOAT")
    paths = [clips["a"], empty, clips["b"], text, tmp_path / "missing.flac", clips["c"], nan, tmp_path]

    result = embed_audio_files(tiny_model, paths, batch_size=2, workers=workers)

    assert result.paths == [str(clips["a"]), str(clips["b"]), str(clips["c"])]
    assert [p for p, _ in result.errors] == [
        str(empty),
        str(text),
        str(tmp_path / "missing.flac"),
        str(nan),
        str(tmp_path),
    ]
    problems = [m for _, m in result.errors]
    for (path, message), problem in zip(
        result.errors, ["empty", "cannot decode", "not found", "non-finite", "directory"], strict=True
    ):
        assert message.startswith(f"{path}: ") and problem in message
    assert len(problems) == 5
    good = embed_audio_files(tiny_model, [clips["a"], clips["b"], clips["c"]])
    np.testing.assert_allclose(result.embeddings, good.embeddings, rtol=0, atol=1e-6)


def test_silent_files_are_embedded_and_named_in_warnings(
    tiny_model: ClapModel, tmp_path: Path, clips: dict[str, Path]
) -> None:
    zeros = write(tmp_path / "zeros.wav", np.zeros(SR, np.float32), SR, "PCM_16")
    faint = write(tmp_path / "faint.flac", sine(440, 1.0, SR, 1e-4), SR, "PCM_24")  # -80 dBFS
    quiet = write(tmp_path / "quiet.wav", sine(440, 1.0, SR, 3e-3), SR, "FLOAT")  # -50 dBFS: not silent
    result = embed_audio_files(tiny_model, [clips["a"], zeros, faint, quiet])
    assert result.paths == [str(clips["a"]), str(zeros), str(faint), str(quiet)] and result.errors == []
    assert [p for p, _ in result.warnings] == [str(zeros), str(faint)]
    assert "all samples are zero" in result.warnings[0][1] and "peak -80" in result.warnings[1][1]
    assert np.isfinite(result.embeddings).all()


def test_all_bad_gives_an_empty_result(tiny_model: ClapModel, tmp_path: Path) -> None:
    result = embed_audio_files(tiny_model, [tmp_path / "x.wav", tmp_path / "y.wav"])
    assert result.paths == [] and len(result.errors) == 2
    assert result.embeddings.shape == (0, tiny_model.config.projection.dim)


def test_files_are_embedded_in_order_independently_of_batching(
    tiny_model: ClapModel, clips: dict[str, Path]
) -> None:
    paths = list(clips.values())
    results = [embed_audio_files(tiny_model, paths, batch_size=b) for b in (1, 2, 16)]
    for result in results:
        assert result.paths == [str(p) for p in paths] and result.errors == []
        np.testing.assert_allclose(np.linalg.norm(result.embeddings, axis=1), 1.0, rtol=1e-6)
        np.testing.assert_allclose(result.embeddings, results[0].embeddings, rtol=0, atol=1e-6)
    # each equals the file embedded on its own
    alone = np.concatenate([embed_audio_files(tiny_model, [p]).embeddings for p in paths])
    np.testing.assert_allclose(results[-1].embeddings, alone, rtol=0, atol=1e-6)


def test_decoding_threads_or_processes_change_nothing_and_stay_a_bounded_distance_ahead(
    tiny_model: ClapModel, clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [*clips.values(), tmp_path / "missing.wav"] * 4  # 24 items, a bad one every sixth
    one = embed_audio_files(tiny_model, paths, batch_size=5, workers=1)
    for workers, processes in ((2, False), (8, False), (1, True), (2, True)):
        many = embed_audio_files(tiny_model, paths, batch_size=5, workers=workers, processes=processes)
        assert many.paths == one.paths and many.errors == one.errors  # errors cross processes intact
        assert np.array_equal(many.embeddings, one.embeddings)  # bit for bit
    started: list[str] = []
    real = inference.load_mono

    def counting(path, sample_rate):
        started.append(str(path))
        return real(path, sample_rate)

    monkeypatch.setattr(inference, "load_mono", counting)
    stream = inference.decoded_files(paths, SR, workers=2)
    first = next(stream)
    assert first[0] == str(paths[0]) and isinstance(first[1], np.ndarray)
    assert len(started) <= 2 * 2  # decoded at most 2 * workers files ahead of the consumer
    assert [name for name, _ in [first, *stream]] == [str(p) for p in paths]
    assert len(started) == len(paths)
    # and at most AHEAD_SECONDS of audio (by the headers), or one file: clip a is 0.5 s, b 0.7 s
    started.clear()
    monkeypatch.setattr(inference, "AHEAD_SECONDS", 1.0)
    stream = inference.decoded_files(paths, SR, workers=8)
    assert next(stream)[0] == str(paths[0]) and started == [str(paths[0])]
    assert len(list(stream)) == len(paths) - 1


def test_batches_side_by_side_give_the_same_embeddings_every_time(
    tiny_model: ClapModel, clips: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Side by side, each thread decodes its own group of files (``processes``: decoding processes feed
    batches side by side instead). Long files' windows span batches (3.5 s in 1 s windows, 3 clips a
    batch); bad and silent files are reported in their place."""
    long = write(tmp_path / "long.wav", noise(int(3.5 * SR), seed=9), SR, "FLOAT")
    silent = write(tmp_path / "silent.wav", np.zeros(SR, np.float32), SR, "FLOAT")
    paths = [*clips.values(), long, tmp_path / "missing.wav", silent] * 3
    one = embed_audio_files(tiny_model, paths, batch_size=3, concurrent_batches=1)
    assert len(one.paths) == 21 and len(one.errors) == 3 and len(one.warnings) == 3
    for threads, processes in ((2, False), (3, False), (2, True)):
        first = embed_audio_files(tiny_model, paths, 3, concurrent_batches=threads, processes=processes)
        again = embed_audio_files(tiny_model, paths, 3, concurrent_batches=threads, processes=processes)
        assert (first.paths, first.errors, first.warnings) == (one.paths, one.errors, one.warnings)
        assert np.array_equal(first.embeddings, again.embeddings)  # bit for bit, run to run
        np.testing.assert_allclose(first.embeddings, one.embeddings, rtol=0, atol=1e-6)
    shown = embed_audio_files(tiny_model, paths, batch_size=3, concurrent_batches=2, progress=True)
    assert shown.paths == one.paths
    np.testing.assert_allclose(shown.embeddings, one.embeddings, rtol=0, atol=1e-6)
    assert f"{len(paths)}/{len(paths)}" in capsys.readouterr().err  # the bar counted every file
    # by default only an encoder measured to gain by it goes side by side (the default model's)
    assert not tiny_model.cpu_batches_side_by_side() and inference.concurrent_batches_for(tiny_model) == 1
    default = create_model("openclap-yamnet", pretrained=False, text=False)
    assert inference.concurrent_batches_for(default) == torch.get_num_threads()
    assert inference.concurrent_batches_for(default, 1) == 1
    from_generator = embed_audio_files(tiny_model, (p for p in paths), 3, concurrent_batches=2)
    as_list = embed_audio_files(tiny_model, paths, 3, concurrent_batches=2)
    assert from_generator.paths == as_list.paths  # paths may come as any iterable
    assert np.array_equal(from_generator.embeddings, as_list.embeddings)
    with pytest.raises(ValueError, match="at least 1"):
        embed_audio_files(tiny_model, paths, concurrent_batches=0)
    with pytest.raises(ValueError, match="long_audio='all' is not valid"):
        embed_audio_files(tiny_model, paths, long_audio="all", concurrent_batches=2)


def test_side_by_side_groups_follow_the_headers_and_cut_short_jobs_finer(
    tiny_model: ClapModel, clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Groups are consecutive files of about a batch of clips by their headers (a 3.5 s file is 4 clips
    of 1 s in "mean" mode, 1 in "crop"; a file without a readable header counts 1), and a short job gets
    GROUPS_PER_THREAD groups per thread."""
    long = write(tmp_path / "long.wav", noise(int(3.5 * SR), seed=9), SR, "FLOAT")
    paths = [clips["a"], long, tmp_path / "missing.wav", clips["b"], clips["c"], long, clips["d"]]
    names = [str(p) for p in paths]
    groups = list(inference.file_groups(paths, 4, tiny_model.config.audio.clip_seconds))
    assert groups == [names[:2], names[2:6], names[6:]]  # 1 + 4 | 1 + 1 + 1 + 4 | 2 (1.5 s)
    assert list(inference.file_groups(paths, 4, None)) == [names[:4], names[4:]]
    seen: list[list[str]] = []
    real = inference._embed_group

    def recording(model, group, batch_size, long_audio):  # type: ignore[no-untyped-def]
        seen.append(group)
        return real(model, group, batch_size, long_audio)

    monkeypatch.setattr(inference, "_embed_group", recording)
    many = [clips["a"]] * 40
    embed_audio_files(tiny_model, many, batch_size=16, long_audio="crop", concurrent_batches=2)
    assert [len(g) for g in seen] == [5] * 8  # 40 files / (4 groups x 2 threads), not 16-file groups
    seen.clear()
    embed_audio_files(tiny_model, many * 10, batch_size=16, long_audio="crop", concurrent_batches=2)
    assert [len(g) for g in seen] == [16] * 25  # a long job: whole batches


def test_same_file_twice_gives_identical_embeddings(tiny_model: ClapModel, clips: dict[str, Path]) -> None:
    paths = [clips["d"], clips["a"], clips["d"]]
    first = embed_audio_files(tiny_model, paths)
    again = embed_audio_files(tiny_model, paths)
    assert np.array_equal(first.embeddings, again.embeddings)  # bit-identical run to run
    # At another position or in another batch, the convolution kernels may round the last bit differently.
    np.testing.assert_allclose(first.embeddings[0], first.embeddings[2], rtol=0, atol=1e-6)
    alone = embed_audio_files(tiny_model, [clips["d"]]).embeddings[0]
    np.testing.assert_allclose(alone, first.embeddings[0], rtol=0, atol=1e-6)


def test_file_embedding_equals_the_reference_pipeline(tiny_model: ClapModel, clips: dict[str, Path]) -> None:
    """load -> downmix (mean) -> soxr VHQ -> fit_length (repeat / centre crop) -> encode."""
    waves = []
    for key in ("a", "b", "c"):
        data, rate = sf.read(str(clips[key]), dtype="float32", always_2d=True)
        mono = data.mean(axis=1, dtype=np.float32)
        waves.append(soxr.resample(mono, rate, SR, quality="VHQ").astype(np.float32) if rate != SR else mono)
    result = embed_audio_files(tiny_model, [clips[k] for k in ("a", "b", "c")], long_audio="crop")
    np.testing.assert_allclose(result.embeddings, _encode(tiny_model, waves), rtol=0, atol=1e-6)


# ----- arrays --------------------------------------------------------------------------------------


def test_arrays_equal_the_same_audio_written_to_files(tiny_model: ClapModel, tmp_path: Path) -> None:
    waves = [noise(12000, seed=11, amplitude=0.3), sine(700, 2.5, 44100, 0.4), noise(SR, seed=12, channels=2)]
    rates = [SR, 44100, SR]
    arrays = [embed_audio(tiny_model, [w], r)[0] for w, r in zip(waves, rates, strict=True)]

    # FLOAT files hold the same samples: identical embeddings
    floats = [
        write(tmp_path / f"f{i}.wav", w.T, r, "FLOAT")
        for i, (w, r) in enumerate(zip(waves, rates, strict=True))
    ]
    from_files = embed_audio_files(tiny_model, floats).embeddings
    np.testing.assert_allclose(from_files, np.stack(arrays), rtol=0, atol=1e-6)

    # 16-bit files: within quantisation (the embedding moves by far less than between different clips)
    pcm = [
        write(tmp_path / f"p{i}.flac", w.T, r, "PCM_16")
        for i, (w, r) in enumerate(zip(waves, rates, strict=True))
    ]
    quantised = embed_audio_files(tiny_model, pcm).embeddings
    assert np.abs(quantised - np.stack(arrays)).max() < 1e-3
    assert np.abs(from_files[0] - from_files[2]).max() > 1e-2


def test_embed_audio_batches_and_channels(tiny_model: ClapModel) -> None:
    waves = [noise(n, seed=n) for n in (100, 8000, 16000, 24000, 40000)]
    together = embed_audio(tiny_model, waves, SR, batch_size=16)
    alone = np.concatenate([embed_audio(tiny_model, [w], SR) for w in waves])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)

    stereo = noise(SR, seed=4, channels=2)
    np.testing.assert_allclose(
        embed_audio(tiny_model, [stereo], SR), embed_audio(tiny_model, [stereo.mean(axis=0)], SR), atol=1e-6
    )
    int16 = (noise(SR, seed=8, amplitude=0.3) * 32768).astype(np.int16)
    np.testing.assert_allclose(
        embed_audio(tiny_model, [int16], SR),
        embed_audio(tiny_model, [int16 / np.float32(32768)], SR),
        atol=1e-6,
    )


def test_bad_array_raises_naming_its_index(tiny_model: ClapModel) -> None:
    bad = noise(SR)
    bad[5] = np.inf
    with pytest.raises(AudioError, match=re.escape("<array 1>: audio holds 1 non-finite samples")):
        embed_audio(tiny_model, [noise(SR), bad], SR)


def test_invalid_long_audio_mode(tiny_model: ClapModel) -> None:
    with pytest.raises(
        ValueError, match=r"long_audio='first' is not valid; choose one of \['mean', 'crop'\]"
    ):
        embed_audio(tiny_model, [noise(SR)], SR, long_audio="first")


# ----- long audio and windows ----------------------------------------------------------------------


def test_long_audio_mean_and_crop(tiny_model: ClapModel, tmp_path: Path) -> None:
    wave = np.concatenate([noise(SR, seed=1), sine(300, 1.0, SR), noise(SR // 2, seed=2, amplitude=0.5)])
    path = write(tmp_path / "long.wav", wave, SR, "FLOAT")

    windows, starts = embed_audio_windows(tiny_model, path)
    np.testing.assert_array_equal(starts, [0.0, 1.0, 1.5])  # the last window is aligned with the end
    expected_windows = _encode(tiny_model, [wave[:SR], wave[SR : 2 * SR], wave[-SR:]])
    np.testing.assert_allclose(windows, expected_windows, rtol=0, atol=1e-6)

    mean = embed_audio_files(tiny_model, [path], long_audio="mean").embeddings[0]
    np.testing.assert_allclose(mean, F.normalize(torch.from_numpy(windows).mean(0), dim=0).numpy(), atol=1e-6)

    crop = embed_audio_files(tiny_model, [path], long_audio="crop").embeddings[0]
    offset = (len(wave) - SR) // 2  # tiny-test crops the centre
    np.testing.assert_allclose(crop, _encode(tiny_model, [wave[offset : offset + SR]])[0], atol=1e-6)
    assert np.abs(crop - mean).max() > 1e-3

    # Audio no longer than a clip: both modes agree.
    short = write(tmp_path / "short.wav", wave[:SR], SR, "FLOAT")
    both = [embed_audio_files(tiny_model, [short], long_audio=m).embeddings[0] for m in ("mean", "crop")]
    np.testing.assert_array_equal(both[0], both[1])


def test_fusion_models_take_long_audio_whole(tmp_path: Path) -> None:
    """LAION fusion checkpoints embed a long file through their fusion input, not as a window mean."""
    config = json.loads((CONFIGS / "laion-htsat-tiny-fusion.json").read_text())
    config["name"] = "tiny-fusion"
    config["audio_encoder"]["params"].update(embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1])
    config["text_encoder"] = json.loads((CONFIGS / "tiny-test.json").read_text())["text_encoder"]
    path = tmp_path / "tiny-fusion.json"
    path.write_text(json.dumps(config))
    torch.manual_seed(0)
    model = create_model(str(path)).eval()
    rate, clip = 48000, 480000
    wave = np.concatenate([noise(clip, seed=3), sine(500, 12.0, rate)])  # 22 s
    with torch.inference_mode():
        whole = F.normalize(model.encode_audio(model.prepare_waveforms([torch.from_numpy(wave)])), dim=-1)
    for mode in ("mean", "crop"):
        got = embed_audio(model, [wave], rate, long_audio=mode)[0]
        np.testing.assert_allclose(got, whole[0].numpy(), atol=1e-5)
    windows = embed_audio(model, [wave[:clip], wave[clip : 2 * clip], wave[-clip:]], rate)
    window_mean = F.normalize(torch.from_numpy(windows).mean(0), dim=0).numpy()
    assert np.abs(window_mean - whole[0].numpy()).max() > 1e-3  # the fusion input is not a window mean


def test_windows_with_a_hop(tiny_model: ClapModel, tmp_path: Path) -> None:
    wave = noise(int(2.2 * SR), seed=21)
    path = write(tmp_path / "w.flac", wave, SR, "PCM_24")
    decoded = sf.read(str(path), dtype="float32")[0]
    emb, starts = embed_audio_windows(tiny_model, path, hop_seconds=0.5, batch_size=2)
    np.testing.assert_allclose(starts, [0.0, 0.5, 1.0, 1.2])  # the last window is aligned with the end
    assert emb.shape == (4, tiny_model.config.projection.dim)
    expected = _encode(tiny_model, [decoded[round(s * SR) : round(s * SR) + SR] for s in starts])
    np.testing.assert_allclose(emb, expected, rtol=0, atol=1e-6)


# ----- the bad inputs of the issue ---------------------------------------------------------------------


def test_one_sample_clip(tiny_model: ClapModel, tmp_path: Path) -> None:
    """Decision (documented in load_mono / fit_length): a 1-sample clip at the model's rate is valid and
    repeat-padded to a constant clip; a 1-sample clip at another rate leaves no sample after resampling
    and is reported as too short."""
    one = write(tmp_path / "one.wav", np.array([0.25], np.float32), SR, "FLOAT")
    one44 = write(tmp_path / "one44.wav", np.array([0.25], np.float32), 44100, "FLOAT")
    result = embed_audio_files(tiny_model, [one, one44])
    assert result.paths == [str(one)]
    np.testing.assert_allclose(
        result.embeddings[0], _encode(tiny_model, [np.full(SR, 0.25, np.float32)])[0], atol=1e-6
    )
    assert result.errors == [
        (str(one44), f"{one44}: audio is too short to resample from 44100 Hz to 16000 Hz")
    ]
    np.testing.assert_allclose(
        embed_audio(tiny_model, [np.array([0.25], np.float32)], SR), result.embeddings, atol=1e-6
    )


def test_six_channel_96k_24_bit_file(tiny_model: ClapModel, tmp_path: Path) -> None:
    data, expected = exact_pcm("PCM_24", 96000 * 2, 6, seed=2)
    path = write(tmp_path / "surround.wav", data, 96000, "PCM_24")
    result = embed_audio_files(tiny_model, [path])
    assert result.errors == []
    reference = soxr.resample(expected.mean(axis=0, dtype=np.float32), 96000, SR, quality="VHQ")
    np.testing.assert_allclose(
        result.embeddings, embed_audio(tiny_model, [reference.astype(np.float32)], SR), atol=1e-6
    )
    np.testing.assert_allclose(result.embeddings, embed_audio(tiny_model, [expected], 96000), atol=1e-6)


@pytest.mark.slow  # ~13 s of CPU: two passes over 3600 windows
def test_one_hour_file(tiny_model: ClapModel, tmp_path: Path) -> None:
    """A 1-hour 8 kHz FLAC: embedded as the mean of its 3600 one-second windows, with memory bounded by a
    small multiple of the decoded 16 kHz mono signal (numpy allocations, as tracemalloc sees them)."""
    seconds = 3600
    rng = np.random.default_rng(0)
    ints = rng.integers(-64, 65, size=seconds * 8000, dtype=np.int16)  # low-amplitude noise
    ints[: 8000 * 60] = (np.sin(np.arange(8000 * 60) * 0.3) * 8000).astype(np.int16)  # a louder first minute
    path = write(tmp_path / "hour.flac", ints, 8000, "PCM_16")

    tracemalloc.start()
    try:
        result = embed_audio_files(tiny_model, [path], batch_size=64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    decoded_bytes = seconds * SR * 4
    assert result.errors == [] and result.embeddings.shape == (1, tiny_model.config.projection.dim)
    assert peak < 3 * decoded_bytes, f"peak {peak / 1e6:.0f} MB for a {decoded_bytes / 1e6:.0f} MB signal"

    windows, starts = embed_audio_windows(tiny_model, path, batch_size=64)
    assert windows.shape[0] == seconds and starts[-1] == seconds - 1
    expected = F.normalize(torch.from_numpy(windows).mean(0), dim=0).numpy()
    np.testing.assert_allclose(result.embeddings[0], expected, atol=1e-5)
    assert np.abs(windows[0] - windows[-1]).max() > 1e-3  # the loud minute and the quiet rest differ
