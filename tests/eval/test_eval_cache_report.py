"""Embedding cache on disk, and the Markdown / JSON / PNG report writers."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from openclap.eval.cache import EmbeddingCache, file_key, model_identity
from openclap.eval.report import markdown_table, plot_result, write_json, write_markdown
from openclap.eval.results import EvalResult


class CountingEmbedder:
    """Fake embedding function: a vector from the file's bytes; fails on files named 'bad*'."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, paths: list[str]) -> SimpleNamespace:
        self.calls.append(list(paths))
        ok = [p for p in paths if not Path(p).name.startswith("bad")]
        emb = np.array([[len(Path(p).read_bytes()), Path(p).stat().st_size % 7, 1.0] for p in ok], np.float32)
        return SimpleNamespace(
            paths=ok,
            embeddings=emb.reshape(len(ok), 3),
            errors=[(p, "cannot decode") for p in paths if p not in ok],
        )


def test_cache_embeds_each_file_once_and_invalidates_on_change(tmp_path: Path, write_audio) -> None:
    files = [write_audio(tmp_path / "a" / f"{n}.wav", seed=i) for i, n in enumerate(("x", "y", "bad"))]
    embedder = CountingEmbedder()
    cache = EmbeddingCache(tmp_path / "cache", "model-A")
    first = cache.embed(files, embedder)
    assert first.valid.tolist() == [True, True, False] and first.n_computed == 2
    assert first.errors == [(str(files[2]), "cannot decode")]
    again = EmbeddingCache(tmp_path / "cache", "model-A").embed(
        files[:2], embedder
    )  # fresh object: from disk
    assert again.n_cached == 2 and len(embedder.calls) == 1
    np.testing.assert_array_equal(again.embeddings, first.embeddings[:2])
    other = EmbeddingCache(tmp_path / "cache", "model-B").embed(files[:1], embedder)
    assert other.n_computed == 1 and len(embedder.calls) == 2
    write_audio(files[0], seed=5, n=900)  # new content and size: the old entry no longer matches
    os.utime(files[0], ns=(1, 1))
    assert EmbeddingCache(tmp_path / "cache", "model-A").embed(files[:1], embedder).n_computed == 1
    missing = cache.embed([tmp_path / "nope.wav"], embedder)
    assert missing.errors == [(str(tmp_path / "nope.wav"), "file not found")] and not missing.valid.any()
    for shard in (tmp_path / "cache").rglob("*.npz"):
        with np.load(shard, allow_pickle=False) as data:
            assert data["embeddings"].dtype == np.float32 and data["keys"].dtype.kind == "U"


def test_model_identity_and_file_key(tmp_path: Path) -> None:
    ckpt = tmp_path / "model.safetensors"
    ckpt.write_bytes(b"weights-1")
    a = model_identity("small", ckpt)
    assert a.startswith("small@sha256:") and a == model_identity("small", ckpt)
    ckpt.write_bytes(b"weights-2")
    assert model_identity("small", ckpt) != a and model_identity("small") == "small"
    assert file_key(ckpt).split("\t")[1] == "9"


def _results() -> list[EvalResult]:
    """Results as the JSON of earlier versions wrote them (read back through ``from_dict``)."""
    zs = {
        "task": "ESC-50 fold 4 (400 clips)",
        "dataset": "esc50",
        "protocol": "zeroshot",
        "metric": "accuracy",
        "value": 0.5,
        "n_items": 4,
        "seconds": 1.0,
        "metrics": {"accuracy": 0.5, "top5_accuracy": 0.75},
        "class_names": ["dog", "rain"],
        "confusion_matrix": [[1, 1], [1, 1]],
        "per_class_accuracy": [0.5, 0.5],
    }
    m = {"r1": 0.5, "r5": 1.0, "r10": 1.0, "map10": 0.6, "median_rank": 1.0, "mean_rank": 1.5, "n_queries": 2}
    rt = {
        "task": "AudioCaps demo",
        "dataset": "audiocaps",
        "protocol": "retrieval",
        "metric": "T2A R@1",
        "value": 0.5,
        "n_items": 2,
        "seconds": 2.0,
        "retrieval": {"text_to_audio": m, "audio_to_text": m},
    }
    err = {
        "task": "broken",
        "dataset": "fsdd",
        "protocol": "linear-probe",
        "metric": "-",
        "value": None,
        "n_items": 0,
        "seconds": 0.1,
        "error": "ValueError: bad | thing",
    }
    return [EvalResult.from_dict(r) for r in (zs, rt, err)]


def test_markdown_table_shows_published_figures_and_scope() -> None:
    table = markdown_table(_results())
    assert "| ESC-50 fold 4 (400 clips) | zeroshot | accuracy | 50.00 |" in table
    assert (
        "82.6 (msclap 2022); 93.9 (msclap 2023); ~91 (LAION CLAP); 91.55 (HF laion/clap-htsat-unfused) [1]"
        in table
    )
    assert "[1] Published figure measured on the full ESC-50, 2000 clips, 5 folds." in table
    assert "top5_accuracy 75.00" in table and "T2A R@1/5/10 50.00/100.00/100.00" in table
    assert "error: ValueError: bad / thing" in table and "| n/a |" in table


def test_write_reports_and_plots(tmp_path: Path) -> None:
    results = _results()
    plots = plot_result(results[0], tmp_path / "plots", "01-esc") + plot_result(
        results[1], tmp_path / "plots", "02"
    )
    assert [p.name for p in plots] == ["01-esc-confusion.png", "01-esc-per-class.png", "02-recall.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in plots)
    md = write_markdown(results, tmp_path / "results.md", "Bench", ["Model: `x`"], plots)
    assert "](plots/01-esc-confusion.png)" in md.read_text()
    results[0].metrics["nan_metric"] = float("nan")
    data = json.loads(write_json(results, tmp_path / "results.json", {"model": "x"}).read_text())
    assert data["model"] == "x" and data["results"][0]["metrics"]["nan_metric"] is None


def test_eval_cache_identity_separates_bf16_and_compiled_runs(tmp_path: Path, tiny_model) -> None:
    """An fp32 run's cached embeddings are never read back by a bf16 or compiled run (nor the reverse)."""
    import argparse

    from openclap.eval.cli import _embed_options

    ckpt = tmp_path / "w.safetensors"
    ckpt.write_bytes(b"weights")
    args = argparse.Namespace(
        checkpoint=str(ckpt), cache_dir=str(tmp_path / "cache"), batch_size=4, long_audio="mean", workers=1
    )
    plain = _embed_options(args, tiny_model, quiet=True).model_id
    assert plain == model_identity(tiny_model.config.name, ckpt)  # caches written before stay valid
    try:
        tiny_model.set_precision("bf16")
        bf16 = _embed_options(args, tiny_model, quiet=True).model_id
        tiny_model.compiled = True  # the flag compile_towers sets; compiling itself is not needed here
        both = _embed_options(args, tiny_model, quiet=True).model_id
    finally:
        tiny_model.set_precision("fp32")
        tiny_model.compiled = False
    assert len({plain, bf16, both}) == 3 and bf16.endswith("|bf16") and both.endswith("|bf16|compiled")
