"""``openclap serve``'s own checks, before any server starts (the load test runs the command for real)."""

from __future__ import annotations

from pathlib import Path

import pytest

from openclap.cli import main


def test_serve_refuses_a_missing_index_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--index", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path / 'nothing'}: no such index"


@pytest.mark.parametrize(
    "option",
    [
        ["--port", "70000"],
        ["--port", "0"],
        ["--max-labels", "many"],
        ["--max-labels", "0"],
        ["--max-upload-mb", "0"],
        ["--request-timeout", "-1"],
    ],
)
def test_serve_rejects_bad_options(option: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", *option])
    assert exit_info.value.code == 2 and option[0] in capsys.readouterr().err


def test_serve_runs_the_index_model_in_its_recorded_precision(
    tiny_checkpoint: Path,
    clip_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import httpx
    import numpy as np

    from openclap import create_model, embed_texts
    from openclap.index import build_index
    from openclap.serve import server

    bf16 = create_model(checkpoint=tiny_checkpoint, precision="bf16")
    out = tmp_path / "bf16-index"
    build_index([clip_folder], out, bf16, checkpoint=tiny_checkpoint)
    apps = []  # what `openclap serve` would run: the app is served here instead of blocking in main()
    with monkeypatch.context() as patched:
        patched.setattr(server, "make_server", lambda app, *rest: apps.append(app) or _NotRun())
        assert main(["serve", "--index", str(out)]) == 0  # the recorded model, in bf16, without --precision
        assert main(["serve", "--checkpoint", str(tiny_checkpoint), "--precision", "bf16"]) == 0  # no index
        assert main(["serve", "--index", str(out), "--precision", "fp32"]) == 2  # refused: no app
    assert "the index was embedded in bf16 precision, not fp32" in capsys.readouterr().err
    assert len(apps) == 2
    texts = ["a dog barking"]
    for app in apps:
        with server.serve_in_thread(app, 1.5) as url:
            assert httpx.get(f"{url}/health").json()["precision"] == "bf16"
            body = httpx.post(f"{url}/embed/text", json={"texts": texts}).json()
        np.testing.assert_allclose(
            np.array(body["embeddings"], np.float32), embed_texts(bf16, texts), atol=1e-6
        )


class _NotRun:
    def run(self) -> None:
        pass
