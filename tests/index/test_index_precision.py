"""An index built in bf16 records its precision; update and search load the model again in it, through the
library and the CLI, and refuse another precision; an index that predates the field is fp32."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from openclap import create_model, embed_audio_windows
from openclap.cli import main
from openclap.index import SoundIndex, SoundIndexError, build_index, index_precision, update_index
from openclap.index.identity import identify
from tests.index.conftest import rows


def meta(index: Path) -> dict[str, str]:
    conn = sqlite3.connect(str(index / "index.sqlite"))
    try:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())
    finally:
        conn.close()


def test_a_bf16_index_reloads_its_model_in_bf16(
    tiny_checkpoint: Path, clip_dir: Path, tmp_path: Path
) -> None:
    bf16 = create_model(checkpoint=tiny_checkpoint, precision="bf16")
    out = tmp_path / "idx"
    build_index([clip_dir], out, bf16, checkpoint=tiny_checkpoint)
    assert meta(out)["model_precision"] == "bf16" and index_precision(out) == "bf16"

    with SoundIndex.open(out) as index:  # no model, no precision: the recorded model, in bf16
        assert index.model.precision == "bf16"
        assert identify(index.model).fingerprint == meta(out)["model_fingerprint"]
        assert len(index.search_text("a dog barking", top_k=3)) == 3

    new = clip_dir / "c" / "new.flac"  # a new file, embedded by the model update_index loads again
    new.parent.mkdir()
    shutil.copyfile(next(clip_dir.rglob("*.flac")), new)
    assert update_index(out).embedded_files == 1
    stored = np.stack([v for _, p, _, _, v in rows(out) if p == str(new)])
    in_bf16, _ = embed_audio_windows(bf16, new)
    in_fp32, _ = embed_audio_windows(create_model(checkpoint=tiny_checkpoint), new)
    np.testing.assert_allclose(stored, in_bf16, atol=1e-6)
    assert np.abs(stored - in_fp32).max() > 1e-4  # bf16 is told apart from fp32 here

    refused = "the index was embedded in bf16 precision, not fp32"
    fp32 = create_model(checkpoint=tiny_checkpoint)
    with pytest.raises(SoundIndexError, match=refused):
        SoundIndex.open(out, fp32)
    with pytest.raises(SoundIndexError, match=refused):
        SoundIndex.open(out, precision="fp32")
    with pytest.raises(SoundIndexError, match=refused):
        update_index(out, fp32)
    with pytest.raises(SoundIndexError, match=refused):
        build_index([clip_dir], out, fp32, checkpoint=tiny_checkpoint)


def test_an_index_without_a_recorded_precision_is_fp32(
    tiny_checkpoint: Path, clip_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "idx"
    build_index([clip_dir], out, create_model(checkpoint=tiny_checkpoint), checkpoint=tiny_checkpoint)
    conn = sqlite3.connect(str(out / "index.sqlite"))
    with conn:
        conn.execute("DELETE FROM meta WHERE key = 'model_precision'")  # as an index made before the field
    conn.close()
    assert index_precision(out) == "fp32" and index_precision(tmp_path / "none") is None
    with SoundIndex.open(out) as index:
        assert index.model.precision == "fp32"
    with pytest.raises(SoundIndexError, match="embedded in fp32 precision, not bf16"):
        SoundIndex.open(out, precision="bf16")
    assert update_index(out).embedded_files == 0
    assert meta(out)["model_precision"] == "fp32"  # recorded from then on


def test_cli_precision_is_recorded_reused_and_checked(
    tiny_checkpoint: Path, clip_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, ckpt = tmp_path / "idx", str(tiny_checkpoint)
    assert main(["index", "build", str(clip_dir), "--out", str(out), "--checkpoint", ckpt, "--precision",
                 "bf16", "--quiet"]) == 0  # fmt: skip
    assert meta(out)["model_precision"] == "bf16"
    capsys.readouterr()
    # without --precision: the index's, whether its recorded model is loaded or --checkpoint names it
    for argv in (["search", str(out), "dog"], ["search", str(out), "dog", "--checkpoint", ckpt],
                 ["index", "update", str(out), "--quiet"], ["index", "update", str(out), "--checkpoint", ckpt,
                 "--quiet"], ["index", "build", str(clip_dir), "--out", str(out), "--checkpoint", ckpt,
                 "--quiet"]):  # fmt: skip
        assert main(argv) == 0, (argv, capsys.readouterr().err)
    assert "embedded 0 (0 windows), 4 unchanged" in capsys.readouterr().err
    for argv in (["search", str(out), "dog", "--precision", "fp32"],
                 ["search", str(out), "dog", "--checkpoint", ckpt, "--precision", "fp32"],
                 ["index", "update", str(out), "--precision", "fp32"],
                 ["index", "build", str(clip_dir), "--out", str(out), "--checkpoint", ckpt,
                  "--precision", "fp32"]):  # fmt: skip
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        expected = (
            f"error: {out}: the index was embedded in bf16 precision, not fp32; use bf16 (leave --precision "
            "out to get the index's) or build a new index"
        )
        assert err == expected, (argv, err)
