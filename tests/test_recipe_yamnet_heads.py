"""Tests of the recipe step that trains CLAP heads on YAMNet's frozen tower from cached features.

A YAMNet export with seeded random weights (TensorFlow names and layouts) and real clips from the
TensorFlow fixture stand in for the exported SavedModel and the corpus (1.5 s windows).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file

from openclap import create_model
from openclap.audio.encoders.yamnet import YAMNET_FRONTEND, YamNet, YamnetLogMel
from openclap.embeddings_io import read_embeddings, write_embeddings
from openclap.registry import get_config
from tests.audio.test_yamnet import _tf_shaped
from tests.helpers import FIXTURES, load_recipe, run_script

heads = load_recipe("yamnet_heads")


def _corpus(tmp_path: Path) -> tuple[Path, Path, Path]:
    """DATA folder (yamnet export, teacher files, clips), its manifest and a small JSON config."""
    data = tmp_path / "data"
    (data / "yamnet").mkdir(parents=True)
    tensors = _tf_shaped(YamNet())
    frontend = YamnetLogMel(YAMNET_FRONTEND)
    tensors.update(
        {"frontend/window": frontend.window.float(), "frontend/mel_matrix": frontend.mel_fb.float()}
    )
    save_file(tensors, str(data / "yamnet" / "yamnet.safetensors"))
    with np.load(FIXTURES / "yamnet_tf.npz") as z:
        waves = [z[f"{i}/wave"] for i in range(3)]
    rng = np.random.default_rng(0)
    rows, paths, clip_means, blocks = [], [], [], {}
    labels = ["dog", "rain", "bell"]
    for i in range(12):
        split = "val" if i >= 9 else "train"
        path = data / "audio" / f"clip{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, waves[i % 3], 16000)
        label = labels[i % 3]
        rows.append({"audio": f"audio/clip{i}.wav", "captions": [f"a {label}", f"{label} sound"],
                     "labels": [label], "split": split})  # fmt: skip
        patches = rng.random((6, 1024), dtype=np.float32) + i % 3
        paths.append(str(path))
        clip_means.append(patches.mean(axis=0))
        if i % 2 == 0:
            blocks[str(path)] = patches
    write_embeddings(data / "yamnet_teacher.npz", paths, np.stack(clip_means), model="yamnet")
    names = sorted(blocks)
    offsets = np.cumsum([0] + [len(blocks[n]) for n in names])
    np.savez(data / "yamnet_teacher_blocks.npz", paths=np.array(names), offsets=offsets,
             embeddings=np.concatenate([blocks[n] for n in names]))  # fmt: skip
    manifest = data / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = get_config("openclap-yamnet")
    config = config.replace(audio=dataclasses.replace(config.audio, clip_seconds=1.5))
    config_file = tmp_path / "small.json"
    config_file.write_text(json.dumps(config.to_dict()), encoding="utf-8")
    return data, manifest, config_file


def _run(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["yamnet_heads.py", *args])
    run_script(heads.main)


def test_trains_heads_writes_a_loadable_model_and_reruns_bit_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data, manifest, config = _corpus(tmp_path)
    common = ["--data", str(data), "--manifest", str(manifest), "--config", str(config)]
    common += ["--epochs", "4", "--eval-every", "2", "--batch-size", "4"]
    _run(monkeypatch, *common, "--out", str(tmp_path / "a.safetensors"))
    out = capsys.readouterr().out
    assert "epoch 2: loss" in out and "best epoch" in out and "temperature calibration" in out
    _run(monkeypatch, *common, "--out", str(tmp_path / "b.safetensors"))
    a, b = load_file(str(tmp_path / "a.safetensors")), load_file(str(tmp_path / "b.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # deterministic
    assert not any(k.startswith("text_encoder.") for k in a)  # rebuilt from its package
    model = create_model(checkpoint=tmp_path / "a.safetensors")
    assert model.config.name == "openclap-yamnet" and model.config.audio.clip_seconds == 1.5
    tf = load_file(str(data / "yamnet" / "yamnet.safetensors"))
    assert torch.equal(model.audio_encoder.classifier.weight, tf["dense/kernel"].T)  # the tower stays frozen
    assert 1.0 <= model.logit_scale.exp().item() <= 100.0  # calibrated
    with torch.inference_mode():
        emb = model.encode_audio(
            model.prepare_waveforms([torch.from_numpy(sf.read(data / "audio/clip9.wav")[0])])
        )
    assert emb.shape == (1, 512) and torch.isfinite(emb).all()


def test_the_scale_folds_exactly_into_the_first_linear() -> None:
    model = create_model(
        get_config("openclap-yamnet").replace(text_encoder=get_config("tiny-test").text_encoder)
    )
    x = torch.rand(5, 1024) * 3
    scale = torch.rand(1024) + 0.5
    with torch.no_grad():
        before = model.audio_projection(x / scale)
        heads.fold_scale(model, scale)
        after = model.audio_projection(x)
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)


def test_window_features_average_a_run_of_patches_or_take_the_clip_mean() -> None:
    patches = torch.arange(10.0)[:, None].repeat(1, 4)  # patch i holds i
    features = heads.Features(clip=torch.full((2, 4), -1.0), patches=[patches, None])
    gen = torch.Generator().manual_seed(0)
    rows = heads.window_features(features, [0, 1], window=3, gen=gen)
    start = rows[0, 0].item() - 1  # a run s, s+1, s+2 has mean s + 1
    assert 0 <= start <= 7 and torch.equal(rows[0], torch.full((4,), start + 1))
    assert torch.equal(rows[1], torch.full((4,), -1.0))  # no patches: the clip mean
    short = heads.Features(clip=torch.zeros(1, 4), patches=[patches[:3]])
    assert torch.equal(heads.window_features(short, [0], window=3, gen=gen)[0], torch.zeros(4))


def test_missing_inputs_are_named_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = tmp_path / "tiny.json"
    tiny.write_text(json.dumps(get_config("openclap-yamnet").replace(
        text_encoder=get_config("tiny-test").text_encoder).to_dict()), encoding="utf-8")  # fmt: skip
    with pytest.raises(SystemExit, match="pretrained text tower"):
        _run(monkeypatch, "--data", str(tmp_path), "--manifest", str(tmp_path / "m.jsonl"),
             "--config", str(tiny), "--out", str(tmp_path / "o.safetensors"))  # fmt: skip
    with pytest.raises(SystemExit, match=r"yamnet_teacher\.npz not found"):
        _run(monkeypatch, "--data", str(tmp_path), "--manifest", str(tmp_path / "m.jsonl"),
             "--out", str(tmp_path / "o.safetensors"))  # fmt: skip
    data, manifest, _ = _corpus(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit, match=r"file is a file, not a folder"):  # before any training
        _run(monkeypatch, "--data", str(data), "--manifest", str(manifest),
             "--out", str(tmp_path / "file" / "o.safetensors"))  # fmt: skip
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors")
    with pytest.raises(SystemExit, match=r"bad\.safetensors: not a readable safetensors file"):
        _run(monkeypatch, "--data", str(data), "--manifest", str(manifest), "--weights", str(bad),
             "--out", str(tmp_path / "o.safetensors"))  # fmt: skip
    with pytest.raises(SystemExit, match="unknown manifest format"):
        _run(monkeypatch, "--data", str(data), "--manifest", str(bad),
             "--out", str(tmp_path / "o.safetensors"))  # fmt: skip
    with pytest.raises(SystemExit, match=r"give a \.safetensors file name"):
        _run(monkeypatch, "--data", str(data), "--manifest", str(manifest), "--out", str(tmp_path / "o.pt"))


def test_model_features_are_what_the_model_computes_and_are_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data, manifest, config = _corpus(tmp_path)
    args = ["--data", str(data), "--manifest", str(manifest), "--config", str(config), "--features", "model"]
    args += ["--epochs", "2", "--eval-every", "1", "--batch-size", "4", "--no-calibrate"]
    _run(monkeypatch, *args, "--out", str(tmp_path / "a.safetensors"))
    cache = read_embeddings(data / "yamnet_model_features.npz")
    assert len(cache.paths) == 12 and cache.offsets is not None
    model = create_model(checkpoint=tmp_path / "a.safetensors")
    clip = str(data / "audio" / "clip1.wav")  # 1.5 s: one window, exactly as the model prepares it
    wave = torch.from_numpy(sf.read(clip, dtype="float32")[0])
    with torch.inference_mode():
        direct = model.audio_features(model.prepare_waveforms([wave])).numpy()
    rows = cache.rows_of(cache.paths.index(clip))
    np.testing.assert_allclose(rows, direct, rtol=0, atol=1e-5)
    capsys.readouterr()
    _run(monkeypatch, *args, "--out", str(tmp_path / "b.safetensors"))
    assert "read " in capsys.readouterr().out  # the second run reads the cache
    other = json.loads(config.read_text())
    other["audio_encoder"]["params"] = {"patch_hop": 48}
    config.write_text(json.dumps(other), encoding="utf-8")
    _run(monkeypatch, *args, "--out", str(tmp_path / "c.safetensors"))
    assert "other audio settings: computing it again" in capsys.readouterr().out
