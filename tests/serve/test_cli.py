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
