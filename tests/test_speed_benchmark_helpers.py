"""Helpers the speed benchmarks share: embedding agreement, the result tables, laion_clap's offline patch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from laion_offline import offline_roberta
from speed_table import print_tables
from speedlib import alternating_rows, matmul_gflops, max_abs_diff, product, share_by_rounds, unit_rows

from openclap.cli_errors import positive_int


def test_unit_rows_normalises_tensors_and_output_objects_alike() -> None:
    raw = torch.tensor([[3.0, 4.0], [0.0, 2.0], [1.0, 1.0]])
    rows = unit_rows(raw)  # msclap hands back unnormalised vectors
    torch.testing.assert_close(torch.tensor(rows), torch.tensor([[0.6, 0.8], [0.0, 1.0]]))
    assert unit_rows(SimpleNamespace(pooler_output=raw)) == rows  # transformers 5's output object
    half = torch.tensor(unit_rows(raw.to(torch.bfloat16)))  # bf16 comes back as float
    torch.testing.assert_close(half, torch.tensor(rows), atol=1e-2, rtol=0)
    assert max_abs_diff(rows, [[0.6, 0.8], [0.0, 0.5]]) == pytest.approx(0.5)
    assert max_abs_diff(rows, None) is None


def test_alternating_rows_take_turns_each_timed_call_after_a_warm_one() -> None:
    calls: list[tuple[str, int]] = []

    def variant(name: str):  # type: ignore[no-untyped-def]
        return lambda batch: lambda: calls.append((name, batch))

    rows = alternating_rows({"fp32": variant("fp32"), "bf16": variant("bf16")}, [1, 4], repeats=3)
    one_round = [("fp32", 1), ("fp32", 1), ("bf16", 1), ("bf16", 1)]
    assert calls[:12] == one_round * 3  # turns within each round, an untimed call before each timed one
    assert calls[12:] == [(name, 4) for name, _ in one_round] * 3
    assert set(rows) == {"fp32", "bf16"} and set(rows["bf16"]) == {"b1", "b4"}
    row = rows["fp32"]["b4"]
    assert row["items_per_s"] == pytest.approx(4 / row["seconds"]) and row["seconds"] > 0
    assert len(row["rounds"]) == 3 and sorted(row["rounds"])[1] == row["seconds"]


def test_the_flop_bound_is_taken_round_by_round_against_the_product_beside_it() -> None:
    # 10 GFLOP a clip, batch 2: 20 GFLOP per call; the product (100 GFLOP) runs at 200, 100, 400 GFLOP/s
    got = share_by_rounds(10e9, 2, [0.4, 0.4, 0.1], [0.5, 1.0, 0.25], 100.0)
    assert got == {"share": pytest.approx(0.5), "rate": pytest.approx(200.0)}  # shares 0.25, 0.5, 0.5
    for library in ("blas", "onednn"):
        call, gflop = product(torch.float32, library, n=64)
        assert gflop == pytest.approx(2 * 64**3 / 1e9)
        if library == "blas" or torch.backends.mkldnn.is_available():
            out = call()
            assert out.shape == (64, 64) and torch.isfinite(out).all()


def _side(per_s: float, check: dict[str, list[list[float]]], **extra: object) -> dict[str, object]:
    return {"audio": {"b1": {"seconds": 1 / per_s, "items_per_s": per_s}},
            "text": {"b1": {"seconds": 0.5, "items_per_s": 2.0}}, "check": check, **extra}


def test_table_gives_files_per_worker_count_the_best_ratio_and_the_agreement(
    capsys: pytest.CaptureFixture[str],
) -> None:
    limit = {"decode_s": 0.1, "model_s": 0.3, "cores": 2, "files_per_s": 5.0}
    ours = _side(4.0, {"audio": [[1.0, 0.0]], "files": [[0.6, 0.8]]},
                 files_per_s_by_workers={"1": 3.0, "2": 4.0}, cpu_work_limit=limit)
    ref = _side(2.0, {"audio": [[1.0, 0.0]], "files": [[0.8, 0.6]]}, files_per_s=2.5)
    results = {
        "matmul_gflops": {"fp32": 100.0, "bf16": 400.0},
        "laion-htsat-tiny-unfused": {
            "openclap": {"fp32": ours, "audio_flops": 12e9, "text_flops": 13e9, "peak_rss_mb": 1600.0},
            "reference": {"fp32": ref, "peak_rss_mb": 1800.0},
        },
    }
    print_tables(results, argparse.Namespace(batch_sizes=[1], precisions=["fp32"]))
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| laion")]
    assert "| 2.00x |" in rows[0]  # audio clips/s, openclap over the reference
    assert "| 48 % (100) |" in rows[0]  # 12 GFLOP x 4 clips/s against the rate measured before
    ours["audio"]["b1"]["bound_in_turns"] = {"share": 0.61, "rate": 90.0}  # against the product in turns
    print_tables(results, argparse.Namespace(batch_sizes=[1], precisions=["fp32"]))
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| laion")]
    assert "| 61 % (90) |" in rows[0]
    files = rows[1].rstrip(" |").split(" | ")
    assert files[6:11] == [
        "3.0 (1) / 4.0 (2)", "5.0 (80 %); decode 100.0 + model 300.0 ms", "2.5", "1.60x", "0.0e+00 / 2.0e-01"
    ]


def test_offline_roberta_patches_only_while_open() -> None:
    from transformers import RobertaModel, RobertaTokenizer

    before = RobertaTokenizer.from_pretrained, RobertaModel.from_pretrained
    with offline_roberta():
        assert RobertaTokenizer.from_pretrained("roberta-base") is None  # laion_clap's import-time tokenizers
    assert (RobertaTokenizer.from_pretrained, RobertaModel.from_pretrained) == before


def test_matmul_rate_measures_each_library_and_bounds_against_the_faster() -> None:
    rates = matmul_gflops(torch.float32, sizes=(128, 192), repeats=1)
    assert set(rates) == {"blas", "onednn", "best"}
    assert rates["blas"] > 0 and rates["best"] == max(rates["blas"], rates["onednn"])
    if torch.backends.mkldnn.is_available():
        assert rates["onednn"] > 0  # oneDNN's product ran (its absence would leave 0)



def test_positive_int_rejects_zero_negative_and_words() -> None:
    import argparse

    assert positive_int("3") == 3
    for bad, message in (("0", "at least 1, got 0"), ("-2", "at least 1, got -2"), ("x", "whole number")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            positive_int(bad)
