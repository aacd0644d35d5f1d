"""The CLI never shows a traceback: each user or environment error is one stderr line naming the file or
option, checked before the work where it can be; plus --version, ``python -m openclap``, a closed pipe,
Ctrl-C, progress bars, input order in JSON, ``info`` with registered names, and a fast ``--help``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from openclap import __version__
from openclap.cli import main
from tests.helpers import noise, write

SR = 16000
ROOT = Path(__file__).resolve().parents[1]
PIP_EVAL = "pip install 'openclap[eval]'"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def one_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The single stderr line of a command that must fail with exit code 2."""
    code, _, err = run(capsys, *argv)
    lines = [line for line in err.splitlines() if not line.startswith("warning: model")]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model fails the test: the error must come before any work."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the error was found")

    monkeypatch.setattr("openclap.factory.create_model", refuse)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write(tmp_path / "a.wav", noise(SR, seed=1), SR, "PCM_16")


def test_version_and_module_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"openclap {__version__}"
    done = subprocess.run([sys.executable, "-m", "openclap", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"openclap {__version__}"


def test_help_imports_no_torch() -> None:
    heavy = "('torch', 'numpy', 'transformers')"
    code = f"import sys, openclap.cli as c; c.build_parser(); print([m for m in {heavy} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_closed_pipe_is_quiet() -> None:
    """`openclap models | head -1`: the reader goes away before the output is written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "openclap", "models"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == ""


def test_ctrl_c_is_one_line_and_exit_130(clip: Path, tmp_path: Path) -> None:
    """A real SIGINT while classify waits on its labels file (a FIFO this test holds open, empty)."""
    fifo = tmp_path / "labels.txt"
    os.mkfifo(fifo)
    argv = ["classify", str(clip), "--labels-file", str(fifo)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "openclap", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a test run started in the background of a non-interactive shell ignores SIGINT, and a child
        # inherits that (Python then installs no KeyboardInterrupt handler): give the child the default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    writer = os.open(fifo, os.O_WRONLY)  # returns once classify has opened the file for reading
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(writer)
    assert proc.returncode == 130 and err.strip() == "interrupted" and out == "", err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "{tmp}"], "error: --out must end in .npz or .parquet, got "),
        (["--out", "{tmp}/folder.npz"], "error: --out {tmp}/folder.npz: is a folder; give a file name"),
        (
            ["--out", "{tmp}/a.wav/e.npz"],
            "error: --out {tmp}/a.wav/e.npz: {tmp}/a.wav is a file, not a folder",
        ),
    ],
)
def test_embed_output_checked_before_the_work(
    capsys: pytest.CaptureFixture[str], no_model: None, clip: Path, args: list[str], message: str
) -> None:
    (clip.parent / "folder.npz").mkdir()
    argv = [a.replace("{tmp}", str(clip.parent)) for a in args]
    assert one_error(capsys, "embed", str(clip), *argv).startswith(message.replace("{tmp}", str(clip.parent)))


def test_missing_extras_are_named_before_the_work(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, no_model: None, clip: Path
) -> None:
    for module in ("matplotlib", "pyarrow", "sklearn"):
        monkeypatch.setitem(sys.modules, module, None)  # importlib.util.find_spec now says: absent
    suite = clip.parent / "suite.yaml"
    suite.write_text("tasks:\n  - {protocol: zeroshot, dataset: esc50, root: x}\n")
    line = one_error(capsys, "bench", "--suite", str(suite), "--out", str(clip.parent / "o"))
    assert line == "error: openclap bench (its plots) needs matplotlib, which is not installed: " + PIP_EVAL
    line = one_error(capsys, "train", "--config", str(ROOT / "recipes/shared_data/run.yaml"))
    assert line.endswith("needs matplotlib, which is not installed: pip install 'openclap[train]'")
    line = one_error(capsys, "embed", str(clip), "--out", str(clip.parent / "e.parquet"))
    assert line.endswith("needs pyarrow, which is not installed: pip install 'openclap[parquet]'")
    line = one_error(capsys, "eval", "linear-probe", "--dataset", "esc50", "--root", "x")
    assert line.endswith("needs scikit-learn, which is not installed: pip install 'openclap[eval]'")


def test_labels_file_problems_name_the_file(
    capsys: pytest.CaptureFixture[str], no_model: None, clip: Path
) -> None:
    folder, latin = clip.parent / "labels", clip.parent / "latin1.txt"
    folder.mkdir()
    latin.write_bytes("café\nchien\n".encode("latin-1"))
    blank = clip.parent / "blank.txt"
    blank.write_text("\n  \n")
    cases = {
        str(folder): f"error: --labels-file {folder}: is a folder, not a text file",
        str(latin): f"error: --labels-file {latin}: not UTF-8 text (bad byte at offset 3); save it as UTF-8",
        str(blank): f"error: --labels-file {blank}: no labels given",
        str(
            clip.parent / "gone.txt"
        ): f"error: --labels-file {clip.parent / 'gone.txt'}: no such file or directory",
    }
    for path, message in cases.items():
        assert one_error(capsys, "classify", str(clip), "--labels-file", path) == message


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-d", "splits=[test]"], "error: csv: splits ['test'] are not in {csv}; its folds are ['1', '2']"),
        (["-d", "name=digits", "-d", "label_column=nope"], "error: csv: {csv} has no column 'nope'"),
        (["-d", "colour=red"], "error: dataset 'csv' does not take option(s) ['colour']; it takes ["),
        (
            ["-o", "colour=red"],
            "error: protocol 'zeroshot' does not take option(s) ['colour']; it takes ['templates']",
        ),
        (["-d", "oops"], "error: option 'oops' is not KEY=VALUE"),
    ],
)
def test_eval_options_checked_before_the_model_loads(
    capsys: pytest.CaptureFixture[str], no_model: None, clip: Path, argv: list[str], message: str
) -> None:
    csv = clip.parent / "labels.csv"
    csv.write_text("path,label,fold,speaker\na.wav,dog,1,x\na.wav,cat,2,y\n")
    line = one_error(capsys, "eval", "zeroshot", "--dataset", "csv", "--root", str(csv), *argv)
    assert line.startswith(message.replace("{csv}", str(csv))), line


def test_eval_csv_adapter_takes_a_name_and_splits(
    capsys: pytest.CaptureFixture[str], tiny_checkpoint: Path, clip: Path
) -> None:
    write(clip.parent / "b.wav", noise(SR, seed=2), SR, "PCM_16")
    csv = clip.parent / "labels.csv"
    csv.write_text('path,label,fold\na.wav,rain,1\nb.wav,rain,2\na.wav,"Bark, dog",2\n')
    argv = ["eval", "zeroshot", "--dataset", "csv", "--root", str(csv), "--json", "--checkpoint"]
    code, out, _ = run(capsys, *argv, str(tiny_checkpoint), "-d", "name=mine", "-d", "splits=[2]")
    result = json.loads(out)
    assert code == 0 and result["dataset"] == "mine" and result["n_items"] == 2
    assert result["class_names"] == ["Bark, dog", "rain"]  # a comma never splits a label


def test_bad_checkpoint_and_model_are_one_line(
    capsys: pytest.CaptureFixture[str], tiny_checkpoint: Path, clip: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes((tiny_checkpoint / "model.safetensors").read_bytes()[:5000])
    line = one_error(capsys, "classify", str(clip), "--labels", "a", "--checkpoint", str(cut))
    assert line.startswith(f"error: {cut}: ")
    assert one_error(capsys, "info", "nothing-here").startswith(
        "error: nothing-here: no such checkpoint file or folder, nor a registered model"
    )
    assert one_error(capsys, "info", str(cut)).startswith(f"error: {cut}: ")
    assert one_error(capsys, "classify", str(clip), "--labels", "a", "--model", "nope").startswith(
        "error: unknown model 'nope'; registered models: "
    )


def test_train_config_values_checked_before_the_model_loads(
    capsys: pytest.CaptureFixture[str], no_model: None, tmp_path: Path
) -> None:
    run_yaml = str(ROOT / "recipes/shared_data/run.yaml")
    line = one_error(capsys, "train", "--config", run_yaml, "--set", "max_steps=x")
    assert line == "error: 'max_steps' must be int or null, got 'x'"
    line = one_error(capsys, "train", "--config", run_yaml, "--set", "optim.lr=fast")
    assert line == "error: 'optim.lr' must be float, got 'fast'"
    gone = tmp_path / "gone.jsonl"
    line = one_error(capsys, "train", "--config", run_yaml, "--set", f"data.train_manifest={gone}")
    assert line == f"error: {gone}: manifest not found (data.train_manifest)"
    assert one_error(capsys, "embed", "x.wav", "--out", "/proc/e.npz").startswith(
        "error: --out /proc/e.npz: cannot create a file in /proc ("  # no such file, or permission denied
    )


def test_bad_numbers_are_usage_errors(capsys: pytest.CaptureFixture[str], clip: Path) -> None:
    for option, value, message in [
        ("--top-k", "0", "must be at least 1, got 0"),
        ("--batch-size", "x", "expected a whole number, got 'x'"),
        ("--workers", "-2", "must be at least 1, got -2"),
    ]:
        with pytest.raises(SystemExit) as info:
            main(["classify", str(clip), "--labels", "a", option, value])
        err = capsys.readouterr().err
        assert info.value.code == 2 and f"argument {option}: {message}" in err and "Traceback" not in err


def test_an_unexpected_error_is_one_line_with_the_debug_hint(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'x'")

    monkeypatch.setattr("openclap.registry.list_models", broken)
    code, _, err = run(capsys, "models")
    assert (
        code == 1 and err.startswith("error: internal error (AttributeError: ") and "OPENCLAP_DEBUG=1" in err
    )
    monkeypatch.setenv("OPENCLAP_DEBUG", "1")
    with pytest.raises(AttributeError):
        main(["models"])


def test_classify_json_keeps_input_order_and_progress_follows_the_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tiny_checkpoint: Path, clip: Path
) -> None:
    bad = clip.parent / "bad.wav"
    bad.write_text("not audio")
    late = write(clip.parent / "z.wav", noise(SR, seed=3), SR, "PCM_16")
    argv = ["classify", str(late), str(bad), str(clip), "--labels", "dog,rain", "--json"]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, out, err = run(capsys, *argv, "--checkpoint", str(tiny_checkpoint))
    rows = json.loads(out)
    assert code == 0 and [r["path"] for r in rows] == [str(late), str(bad), str(clip)]
    assert "predictions" in rows[0] and rows[1]["error"].startswith("cannot decode audio")
    assert "embedding: 100%" in err  # stderr is a terminal: a progress bar
    code, out, err = run(capsys, *argv, "--checkpoint", str(tiny_checkpoint), "--quiet")
    assert code == 0 and "embedding" not in err and json.loads(out) == rows


def test_info_takes_registered_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info", "tiny-test")
    info = json.loads(out)
    assert code == 0 and info["file"] is None and info["config"]["name"] == "tiny-test"
    code, out, _ = run(capsys, "info", "openclap-yamnet")
    info = json.loads(out)
    assert code == 0 and info["file"].endswith("openclap-yamnet.safetensors") and info["parameters"] > 0
