"""CLI smoke tests through ``openclap.cli.main`` and one run of the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from openclap import ClapModel, ZeroShotClassifier, embed_audio_files, list_models
from openclap.cli import main
from openclap.inference import find_audio_files
from tests.helpers import ESC50_AUDIO, noise, sine, write

SR = 16000


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    """Good files in nested folders, one bad file, and a non-audio file that must be ignored."""
    root = tmp_path / "audio"
    write(root / "a.wav", noise(SR, seed=1), SR, "PCM_16")
    write(root / "x" / "b.flac", sine(440, 0.5, 22050), 22050, "PCM_24")
    write(root / "x" / "y" / "c.ogg", sine(880, 1.5, 44100, 0.3), 44100, "VORBIS")
    (root / "x" / "broken.wav").write_text("not audio")
    (root / "readme.txt").write_text("ignore me")
    return root


# ----- help ---------------------------------------------------------------------------------------


def test_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("embed", "classify", "models", "info"):
        assert command in out


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "embed",
            ["--out", ".npz", ".parquet", "allow_pickle=False", "--model", "--checkpoint", "--long-audio"],
        ),
        (
            "classify",
            ["--labels", "--labels-file", "--top-k", "--json", "--template", "--multi-label", "--workers"],
        ),
        ("models", ["registered model configurations"]),
        ("info", ["checkpoint", "JSON"]),
    ],
)
def test_command_help(capsys: pytest.CaptureFixture[str], command: str, expected: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for text in expected:
        assert text in out, text


def test_workers_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["classify", "x.wav", "--labels", "a,b", "--workers", "0"])
    assert info.value.code == 2 and "--workers: must be at least 1, got 0" in capsys.readouterr().err


def test_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


# ----- models / info ------------------------------------------------------------------------------


def test_models_lists_every_registered_config(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models")
    assert code == 0
    configs, published = out.strip().split("\n\n")
    lines = configs.splitlines()
    assert [line.split()[0] for line in lines] == list_models()
    assert "msclap-2023" in published and "laion/clap-htsat-unfused" in published
    tiny = next(line for line in lines if line.startswith("tiny-test"))
    assert "16000 Hz" in tiny and "dim=16" in tiny and "config only" in tiny


def test_info(capsys: pytest.CaptureFixture[str], tiny_model: ClapModel, tiny_checkpoint: Path) -> None:
    code, out, _ = run(capsys, "info", str(tiny_checkpoint))
    assert code == 0
    info = json.loads(out)
    assert info["file"] == str(tiny_checkpoint / "model.safetensors")
    assert info["tensors"] == len(tiny_model.state_dict())
    assert info["parameters"] == sum(t.numel() for t in tiny_model.state_dict().values())
    assert info["config"]["name"] == "tiny-test" and info["text_weights"] == "included"
    assert info["size_mb"] > 0


def test_info_refuses_a_pickle(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "old.pth"
    path.write_bytes(b"\x80\x02}q\x00.")
    code, _, err = run(capsys, "info", str(path))
    assert code == 2
    assert err.startswith(f"error: {path}: not an openclap checkpoint")


# ----- embed ---------------------------------------------------------------------------------------


def test_embed_npz(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    audio_dir: Path,
    tiny_model: ClapModel,
    tiny_checkpoint: Path,
) -> None:
    extra = write(tmp_path / "extra.wav", noise(4000, seed=9), 8000, "FLOAT")
    out_file = tmp_path / "out" / "emb.npz"  # the folder is created
    code, _, err = run(
        capsys,
        "embed",
        str(audio_dir),
        str(extra),
        "--out",
        str(out_file),
        "--checkpoint",
        str(tiny_checkpoint),
        "--quiet",
    )
    assert code == 0

    with np.load(out_file, allow_pickle=False) as data:
        paths, embeddings, model_name = list(data["paths"]), data["embeddings"], str(data["model"])
    good = [audio_dir / "a.wav", audio_dir / "x" / "b.flac", audio_dir / "x" / "y" / "c.ogg", extra]
    assert paths == [str(p) for p in good]
    assert model_name == "tiny-test"
    assert embeddings.dtype == np.float32 and embeddings.shape == (4, 16)
    expected = embed_audio_files(tiny_model, good).embeddings
    np.testing.assert_array_equal(embeddings, expected)  # the same weights give the same numbers

    broken = audio_dir / "x" / "broken.wav"
    assert f"skipped {broken}: cannot decode audio" in err
    assert "readme.txt" not in err
    assert "embedded 4 of 5 files" in err and "1 skipped" in err
    assert "warning" not in err  # a checkpoint was given


def test_embed_parquet(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, audio_dir: Path, tiny_checkpoint: Path
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    npz, parquet = tmp_path / "e.npz", tmp_path / "e.parquet"
    common = ["--checkpoint", str(tiny_checkpoint), "--quiet"]
    assert run(capsys, "embed", str(audio_dir), "--out", str(npz), *common)[0] == 0
    assert run(capsys, "embed", str(audio_dir), "--out", str(parquet), *common)[0] == 0
    table = pq.read_table(parquet)
    assert table.column_names == ["path", "embedding"]
    with np.load(npz, allow_pickle=False) as data:
        assert table.column("path").to_pylist() == list(data["paths"])
        embeddings = np.array(table.column("embedding").to_pylist(), dtype=np.float32)
        np.testing.assert_array_equal(embeddings, data["embeddings"])


def test_embed_without_checkpoint_warns(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, audio_dir: Path
) -> None:
    code, _, err = run(
        capsys, "embed", str(audio_dir / "a.wav"), "--out", str(tmp_path / "e.npz"), "--model", "tiny-test"
    )
    assert code == 0
    assert "warning: model 'tiny-test' has no trained weights" in err
    assert "embedded 1 of 1 files" in err


def test_embed_all_bad_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_text("nope")
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    out_file = tmp_path / "e.npz"
    code, _, err = run(
        capsys,
        "embed",
        str(bad),
        str(empty),
        str(tmp_path / "gone.wav"),
        "--out",
        str(out_file),
        "--model",
        "tiny-test",
        "--quiet",
    )
    assert code == 1
    assert f"skipped {bad}: cannot decode audio" in err
    assert f"skipped {empty}: file is empty (0 bytes)" in err
    assert f"skipped {tmp_path / 'gone.wav'}: file not found" in err
    assert "embedded 0 of 3 files" in err
    with np.load(out_file, allow_pickle=False) as data:
        assert data["embeddings"].shape == (0, 16) and len(data["paths"]) == 0


def test_embed_refuses_an_unknown_output_type_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, audio_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("openclap.factory.create_model", no_model)
    code, _, err = run(
        capsys, "embed", str(audio_dir), "--out", str(tmp_path / "e.csv"), "--model", "tiny-test"
    )
    assert code == 2
    assert "error: --out must end in .npz or .parquet, got 'e.csv'" in err
    assert not (tmp_path / "e.csv").exists()


def test_embed_empty_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "embed", str(tmp_path / "empty"), "--out", str(tmp_path / "e.npz"))
    assert code == 2 and "no audio files found" in err


def test_unknown_model_is_an_error(
    capsys: pytest.CaptureFixture[str], audio_dir: Path, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "embed", str(audio_dir), "--out", str(tmp_path / "e.npz"), "--model", "nope")
    assert code == 2 and "unknown model 'nope'" in err


# ----- classify ------------------------------------------------------------------------------------


def test_classify_prints_top_k_per_file(
    capsys: pytest.CaptureFixture[str], audio_dir: Path, tiny_model: ClapModel, tiny_checkpoint: Path
) -> None:
    labels = ["dog", "rain", "siren", "church bells"]
    code, out, err = run(
        capsys,
        "classify",
        str(audio_dir),
        "--labels",
        " dog, rain,siren ,church bells,",
        "--top-k",
        "2",
        "--checkpoint",
        str(tiny_checkpoint),
    )
    assert code == 0
    files = [f for f in find_audio_files([audio_dir]) if not f.endswith("broken.wav")]
    clf = ZeroShotClassifier(tiny_model, labels)
    expected = clf.predict(embed_audio_files(tiny_model, files).embeddings, top_k=2)
    lines = out.strip().splitlines()
    assert len(lines) == 3
    for line, path, preds in zip(lines, files, expected, strict=True):
        shown = ", ".join(f"{p.label} ({p.score:.3f})" for p in preds)
        assert line == f"{path}\t{shown}"
    assert "skipped" in err and "broken.wav" in err


def test_classify_json_with_labels_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, audio_dir: Path, tiny_checkpoint: Path
) -> None:
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("dog\n\n  rain  \nsiren\n", encoding="utf-8")
    code, out, _ = run(
        capsys,
        "classify",
        str(audio_dir),
        "--labels-file",
        str(labels_file),
        "--top-k",
        "3",
        "--json",
        "--checkpoint",
        str(tiny_checkpoint),
    )
    assert code == 0
    rows = json.loads(out)
    results = [r for r in rows if "predictions" in r]
    errors = [r for r in rows if "error" in r]
    assert len(results) == 3 and len(errors) == 1
    assert errors[0]["path"].endswith("broken.wav") and "cannot decode audio" in errors[0]["error"]
    assert not errors[0]["error"].startswith(errors[0]["path"])  # the path is not repeated in the message
    for row in results:
        preds = row["predictions"]
        assert sorted(p["label"] for p in preds) == ["dog", "rain", "siren"]
        scores = [p["score"] for p in preds]
        assert scores == sorted(scores, reverse=True)
        assert sum(scores) == pytest.approx(1.0, abs=1e-5)  # softmax over all three labels


def test_silent_files_are_classified_with_a_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, audio_dir: Path, tiny_checkpoint: Path
) -> None:
    silent = write(audio_dir / "silent.wav", np.zeros(SR, np.float32), SR, "PCM_16")
    common = ["--labels", "dog,rain", "--checkpoint", str(tiny_checkpoint)]
    code, out, err = run(capsys, "classify", str(audio_dir), *common)
    assert code == 0 and f"{silent}\t" in out and len(out.strip().splitlines()) == 4
    assert f"warning {silent}: audio is silent (all samples are zero" in err
    code, out, _ = run(capsys, "classify", str(audio_dir), *common, "--json")
    rows = {r["path"]: r for r in json.loads(out)}
    assert "all samples are zero" in rows[str(silent)]["warning"] and rows[str(silent)]["predictions"]
    assert sum("warning" in r for r in rows.values()) == 1
    code, _, err = run(
        capsys,
        "embed",
        str(audio_dir),
        "--out",
        str(tmp_path / "e.npz"),
        "--quiet",
        "--checkpoint",
        str(tiny_checkpoint),
    )
    assert code == 0 and f"warning {silent}: audio is silent" in err
    assert "embedded 4 of 5 files" in err and "1 skipped, 1 silent" in err


def test_classify_multi_label_with_templates(
    capsys: pytest.CaptureFixture[str], audio_dir: Path, tiny_model: ClapModel, tiny_checkpoint: Path
) -> None:
    templates = ["a recording of {}", "the sound of {}"]
    code, out, _ = run(
        capsys,
        "classify",
        str(audio_dir / "a.wav"),
        "--labels",
        "dog,rain",
        "--multi-label",
        "--template",
        templates[0],
        "--template",
        templates[1],
        "--json",
        "--checkpoint",
        str(tiny_checkpoint),
    )
    assert code == 0
    preds = json.loads(out)[0]["predictions"]
    clf = ZeroShotClassifier(tiny_model, ["dog", "rain"], templates=templates, multi_label=True)
    cos = clf.predict_proba(embed_audio_files(tiny_model, [audio_dir / "a.wav"]).embeddings)[0]
    assert {p["label"]: p["score"] for p in preds} == pytest.approx(
        dict(zip(["dog", "rain"], cos, strict=True)), abs=1e-5
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--labels", "dog,dog"], "error: duplicate labels: ['dog']"),
        (["--labels", " , "], "error: --labels: no labels given"),
        (["--labels", "dog", "--template", "no placeholder"], "has no '{}' placeholder"),
        (["--labels-file", "/nonexistent/labels.txt"], "error: "),
    ],
)
def test_classify_errors(
    capsys: pytest.CaptureFixture[str], audio_dir: Path, tiny_checkpoint: Path, args: list[str], message: str
) -> None:
    code, _, err = run(
        capsys, "classify", str(audio_dir / "a.wav"), *args, "--checkpoint", str(tiny_checkpoint)
    )
    assert code == 2
    assert message in err


def test_classify_needs_labels(capsys: pytest.CaptureFixture[str], audio_dir: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["classify", str(audio_dir)])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["classify", str(audio_dir), "--labels", "a", "--labels-file", "f.txt"])  # not both
    assert "not allowed with argument" in capsys.readouterr().err


def test_classify_all_bad_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_checkpoint: Path
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_text("nope")
    code, out, err = run(
        capsys, "classify", str(bad), "--labels", "dog", "--checkpoint", str(tiny_checkpoint)
    )
    assert code == 1 and out == "" and f"skipped {bad}" in err


# ----- the installed console script ----------------------------------------------------------------------


@pytest.mark.slow  # a fresh interpreter imports torch and transformers
def test_console_script_classifies_files(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "openclap"
    if not script.is_file():
        pytest.skip(f"console script not installed next to {sys.executable}")
    if ESC50_AUDIO.is_dir():
        files = sorted(ESC50_AUDIO.glob("*.flac"))[:3]
    else:  # ../shared/data absent: generated clips
        files = [write(tmp_path / f"{i}.wav", noise(SR, seed=i), SR, "PCM_16") for i in range(3)]
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(
        [
            str(script),
            "classify",
            *map(str, files),
            "--labels",
            "dog,rain,siren,church bells",
            "--model",
            "tiny-test",
            "--top-k",
            "2",
            "--threads",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(f) for f in files]
    assert all(len(line.split("\t")[1].split(", ")) == 2 for line in lines)
    assert "has no trained weights" in proc.stderr


def test_entry_returns_mains_code_and_freezes_the_heap_for_shutdown(monkeypatch: pytest.MonkeyPatch) -> None:
    """The console script's ``entry`` passes ``main``'s exit code through and leaves every object frozen
    (interpreter shutdown then skips cyclic collections over them)."""
    import gc

    from openclap import cli

    monkeypatch.setattr(cli, "main", lambda: 3)
    try:
        assert cli.entry() == 3
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
