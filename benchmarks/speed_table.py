"""Markdown tables of a ``speed_compare.py`` run (also: ``python benchmarks/speed_table.py RESULTS.json``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from speedlib import max_abs_diff


def _cell(row: dict[str, Any] | None, key: str, batch: int) -> float | None:
    if not row or "error" in row:
        return None
    return row.get(key, {}).get(f"b{batch}", {}).get("items_per_s")


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None else f"{a / b:.2f}x"


def _agreement(ours: dict[str, Any], ref: dict[str, Any] | None) -> str:
    mine, theirs = ours.get("check", {}), (ref or {}).get("check", {})
    diffs = [max_abs_diff(mine.get(k), theirs.get(k)) for k in ("audio", "files")]
    return " / ".join("–" if d is None else f"{d:.1e}" for d in diffs)


def print_tables(results: dict[str, Any], args: argparse.Namespace) -> None:
    rates = results["matmul_gflops"]
    big = max(args.batch_sizes)
    families = [f for f in results if isinstance(results[f], dict) and "openclap" in results[f]]
    print(f"\n## Audio tower (clips/s; latency = seconds per call at batch 1; FLOP bound at batch {big})\n")
    print(
        "| family | precision | openclap b1 latency s | openclap clips/s b1 | openclap clips/s "
        f"b{big} | GFLOP/clip | share of the FLOP bound (matmul rate) | reference clips/s b{big} "
        "| openclap / reference | peak RSS MB (ours / ref) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for family in families:
        ours, ref = results[family]["openclap"], results[family].get("reference")
        if "error" in ours:
            print(f"| {family} | error: {ours['error']} |")
            continue
        for precision in args.precisions:
            rows = ours[precision]
            b1 = rows["audio"].get("b1", {})
            ours_big = _cell(rows, "audio", big)
            ref_big = _cell(ref.get(precision) if ref and "error" not in ref else None, "audio", big)
            flops = ours["audio_flops"] / 1e9
            rate = ours.get("matmul_gflops", rates)[precision]  # measured in the same process, just before
            share = None if ours_big is None else flops * ours_big / rate
            turns = rows["audio"].get(f"b{big}", {}).get("bound_in_turns")
            if turns is not None:  # against a product timed in turns with the model's calls
                share, rate = turns["share"], turns["rate"]
            ref_rss = "–" if not ref or "error" in ref else f"{ref['peak_rss_mb']:.0f}"
            print(
                f"| {family} | {precision} | {_fmt(b1.get('seconds'), 3)} | {_fmt(b1.get('items_per_s'))} "
                f"| {_fmt(ours_big)} | {flops:.1f} | {_fmt(None if share is None else 100 * share, 0)} % "
                f"({rate:.0f}) | {_fmt(ref_big)} | {_ratio(ours_big, ref_big)} "
                f"| {ours['peak_rss_mb']:.0f} / {ref_rss} |"
            )
    print(f"\n## Text tower (prompts/s at batch {big}), files to embeddings (files/s), agreement\n")
    print(
        "| family | precision | openclap prompts/s | GFLOP/prompt | reference prompts/s | ratio "
        "| openclap files/s by workers | CPU-work limit files/s (share reached) | reference files/s "
        "| ratio (best) | max abs diff audio / files |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for family in families:
        ours, ref = results[family]["openclap"], results[family].get("reference")
        if "error" in ours:
            continue
        for precision in args.precisions:
            ref_p = ref.get(precision) if ref and "error" not in ref else None
            t_ours, t_ref = _cell(ours[precision], "text", big), _cell(ref_p, "text", big)
            by_workers = ours[precision].get("files_per_s_by_workers", {})
            f_ours = max(by_workers.values(), default=None)
            f_ref = (ref_p or {}).get("files_per_s")
            files = " / ".join(f"{_fmt(v)} ({w})" for w, v in by_workers.items()) or "–"
            limit = _limit(ours[precision].get("cpu_work_limit"), f_ours)
            print(
                f"| {family} | {precision} | {_fmt(t_ours)} | {ours['text_flops'] / 1e9:.2f} | {_fmt(t_ref)} "
                f"| {_ratio(t_ours, t_ref)} | {files} | {limit} | {_fmt(f_ref)} | {_ratio(f_ours, f_ref)} "
                f"| {_agreement(ours[precision], ref_p)} |"
            )
    for family in families:
        ref = results[family].get("reference")
        if ref and "error" in ref:
            print(f"\nreference for {family} failed: {ref['error']}")
    after = results.get("matmul_gflops_after", {})
    print(
        f"\nmatmul rate before / after: fp32 {rates['fp32']:.0f} / {after.get('fp32', 0):.0f}, bf16 "
        f"{rates['bf16']:.0f} / {after.get('bf16', 0):.0f} GFLOP/s"
    )


def _limit(limit: dict[str, float] | None, best: float | None) -> str:
    """``limit (share %)``, with the per-file decode and model work in ms."""
    if not limit:
        return "–"
    share = "" if best is None else f" ({100 * best / limit['files_per_s']:.0f} %)"
    work = f"decode {1000 * limit['decode_s']:.1f} + model {1000 * limit['model_s']:.1f} ms"
    return f"{limit['files_per_s']:.1f}{share}; {work}"


if __name__ == "__main__":
    data = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    batches = sorted(
        {
            int(k[1:])
            for f in data.values()
            if isinstance(f, dict) and "openclap" in f
            for p in ("fp32", "bf16")
            if p in f["openclap"]
            for k in f["openclap"][p]["audio"]
        }
    )
    precisions = [
        p
        for p in ("fp32", "bf16")
        if any(p in f.get("openclap", {}) for f in data.values() if isinstance(f, dict))
    ]
    print_tables(data, argparse.Namespace(batch_sizes=batches, precisions=precisions))
