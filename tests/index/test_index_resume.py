"""Real processes: a build killed with SIGKILL resumes without re-embedding what it committed, and a
2-process torchrun (gloo) build equals the single-process build."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from openclap import ClapModel
from openclap.index import SoundIndex, SoundIndexError, build_index, update_index
from tests.index.conftest import rows, same_content

HERE = Path(__file__).parent


@pytest.mark.slow
def test_killed_build_resumes_without_redoing_committed_files(
    tiny_model: ClapModel, tiny_checkpoint: Path, clip_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "idx"
    cmd = [
        sys.executable,
        str(HERE / "killed_build_run.py"),
        str(tiny_checkpoint),
        str(clip_dir),
        str(out),
        "3",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    conn = sqlite3.connect(str(out / "parts" / "part-00000.sqlite"))
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 2  # two committed, the third lost
    conn.close()
    with pytest.raises(SoundIndexError, match="no vectors yet"):
        SoundIndex.open(out, tiny_model)
    report = update_index(out, tiny_model)
    assert (report.resumed_files, report.embedded_files, report.total_windows) == (2, 2, 20)
    assert not (out / "parts").exists() or not any((out / "parts").iterdir())
    build_index([clip_dir], tmp_path / "reference", tiny_model)
    same_content(out, tmp_path / "reference", atol=1e-6)  # another process: float noise
    with SoundIndex.open(out) as index:  # the recorded checkpoint loads the model again
        assert len(index) == 20 and not index.stale


@pytest.mark.slow
def test_torchrun_two_process_build_equals_single_process(
    tiny_model: ClapModel, tiny_checkpoint: Path, clip_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sharded"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "openclap.cli", "index", "build", str(clip_dir), "--out", str(out),
        "--checkpoint", str(tiny_checkpoint), "--threads", "1", "--workers", "1", "--quiet",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stderr.count("embedded 4 (20 windows)") == 1  # rank 0 reports, once
    build_index([clip_dir], tmp_path / "single", tiny_model, checkpoint=tiny_checkpoint)
    same_content(out, tmp_path / "single", atol=1e-6)
    assert [r[0] for r in rows(out)] == [r[0] for r in rows(tmp_path / "single")]  # same item ids
    assert not any((out / "parts").iterdir())
