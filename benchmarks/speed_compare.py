"""Model speed per family, openclap beside the reference code on the same seeded weights, in one run.

Usage: .venv/bin/python benchmarks/speed_compare.py [--families msclap-2022 ... openclap-yamnet]
           [--batch-sizes 1 32] [--threads 2] [--repeats 2] [--precisions fp32 bf16] [--files N]
           [--workers 1 2] [--reference-python /work/benchenv-h21/bin/python] [--compile]
           [--allocator openclap|both|none]

For each family: audio clips/s and latency at each batch size, text prompts/s, peak memory of the process,
FLOPs per clip and per prompt (``torch.utils.flop_counter``) and the share of this CPU's matrix-product
rate (measured in the same run, fp32 and bf16, 2048^3 and 3072^3 products, the fastest of torch's BLAS and
oneDNN: MKL's fp32 runs at half oneDNN's on AVX-512 AMD CPUs) that the model reaches. openclap's share is
taken round by round: a 3072^3 product of that library takes turns with the model's calls
(``speedlib.alternating_rows``), each round's share is the model's FLOP rate over that round's product
rate, and the table gives the median (``speedlib.share_by_rounds``): on a shared host the rate measured
once, minutes before the model's calls, moved the same code's share by a tenth. With ``--files N``,
files/s from N real files (``../shared/data/audiocaps-demo``, resampled) to embeddings: openclap's
``embed_audio_files`` with each ``--workers`` count of decoding threads, the reference's own file path,
each the fastest of ``--repeats`` runs after a warm-up, openclap's taking turns with the CPU-work
limit's decoding and model timings. openclap's precisions take turns too: both packages are built first,
then each round times every precision once (``speedlib.alternating_rows``), so bf16 / fp32 compares calls
made moments apart. Every measurement runs in its own process (peak memory is per process); openclap
and the reference alternate per family so both see the same machine load. References: msclap's
``CLAPWrapper`` for msclap-2022 (Cnn14) / msclap-2023 (HTS-AT) and laion_clap's ``CLAP_Module`` for
laion-htsat-tiny-unfused (HTS-AT; model call and ``get_audio_embedding_from_filelist``), both in the
benchmark-only environment of ``reference_env/build.sh``; transformers' ``ClapModel`` for hf-clap (in
openclap's venv). openclap-small and openclap-yamnet (the shipped default) have no reference. Both sides
also return their L2-normalised embeddings of the first 2 clips (and files): the table gives the largest
absolute difference. ``--compile``: openclap's side runs ``compile_towers`` (its wait is kept as
``compile_seconds`` in the JSON, not in the rates). openclap's children allocate as its command does
(``openclap.allocator``: freed memory kept in glibc's heap, large tensors on huge pages;
``openclap.openmp``: libgomp's shorter spin; set through the environment: ``THP_MEM_ALLOC_ENABLE=1``,
``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``GOMP_SPINCOUNT``); ``--allocator both`` gives
the references the same, ``none`` neither. See docs/speed.md for a recorded run and how to read it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from speedlib import (
    alternating_rows,
    matmul_gflops,
    peak_rss_mb,
    product,
    run_child,
    serve_child,
    share_by_rounds,
    unit_rows,
)

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
OWN = ("openclap-small", "openclap-yamnet")  # no reference code: the small CNN and the shipped default
REFERENCE = {
    "msclap-2022": ("msclap", "2022"),
    "msclap-2023": ("msclap", "2023"),
    "laion-htsat-tiny-unfused": ("laion", None),
    "hf-clap": ("hf", None),
}
CLIP_SECONDS = {"msclap-2022": 5, "msclap-2023": 7, "laion-htsat-tiny-unfused": 10, "hf-clap": 10}  # README


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def best_library(rates: dict[str, float]) -> str:
    """The library of ``matmul_gflops``' best rate: the one whose product the bound is taken against."""
    return "onednn" if rates.get("onednn", 0.0) > rates["blas"] else "blas"


def matmul_rates() -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """fp32 and bf16 square-product rates (speedlib.matmul_gflops): the best library's (the bound's
    denominator), and each library's."""
    detail = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}
    return {k: v["best"] for k, v in detail.items()}, detail


def measure_openclap(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in a child process: the openclap model of ``spec`` timed as ``reference_speed`` times its."""
    import numpy as np
    from safetensors.torch import load_file
    from torch.utils.flop_counter import FlopCounterMode

    from openclap import create_model

    torch.set_num_threads(spec["threads"])
    model = create_model(spec["model"]) if spec["ckpt"] is None else create_model(checkpoint=spec["ckpt"])
    cfg = model.config.audio
    rng = np.random.default_rng(0)
    clips = torch.from_numpy(
        rng.standard_normal((max(spec["batch_sizes"]), cfg.clip_samples)).astype(np.float32) * 0.1
    )
    if spec["inputs"] is None:
        tokens = model.tokenize(["a dog barking", "rain on a window", "a siren", "church bells"])
    else:  # the case's stored token ids, as the reference is fed
        stored = load_file(spec["inputs"])
        tokens = {k: v for k, v in stored.items() if k in ("input_ids", "attention_mask", "token_type_ids")}

    def text(batch: int):  # type: ignore[no-untyped-def]
        batch_tokens = {k: v.repeat(batch // 4 + 1, 1)[:batch] for k, v in tokens.items()}
        return lambda: model.encode_text(batch_tokens)

    rates, detail = matmul_rates()
    result: dict[str, Any] = {"matmul_gflops": rates, "matmul_gflops_by_library": detail}
    with torch.inference_mode():
        for mode, args in (("audio", (clips[:1],)), ("text", None)):
            with FlopCounterMode(display=False) as counter:
                model.encode_audio(*args) if mode == "audio" else text(1)()
            result[f"{mode}_flops"] = counter.get_total_flops()
        waited = {}
        for precision in spec["precisions"]:  # every precision's package first: they then take turns
            model.set_precision(precision)
            start = time.perf_counter()
            if spec.get("compile"):  # after the FLOP count, which reads the eager model
                model.compile_towers()
                model.encode_audio(clips[:2])
            waited[precision] = time.perf_counter() - start if spec.get("compile") else 0.0

        def turns(call: Any, extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
            """call(b)() in each precision and the ``extra`` variants, taking turns (``alternating_rows``)."""

            def made(precision: str) -> Any:
                def for_batch(batch: int) -> Any:
                    run = call(batch)  # built once (text's token batch), outside the timing
                    return lambda: (model.set_precision(precision), run())

                return for_batch

            made_all = {precision: made(precision) for precision in spec["precisions"]}
            return alternating_rows({**made_all, **extra}, spec["batch_sizes"], spec["repeats"])

        # each precision's bound: a product of the bound's library, timed in turns with the model's calls
        products = {p: product(DTYPES[p], best_library(detail[p])) for p in spec["precisions"]}
        beside = {f"product {p}": lambda b, p=p: products[p][0] for p in spec["precisions"]}
        audio = turns(lambda b: lambda: model.encode_audio(clips[:b]), beside)
        rows = {"audio": audio, "text": turns(text, {})}
        for precision in spec["precisions"]:
            model.set_precision(precision)
            result[precision] = {"audio": rows["audio"][precision], "text": rows["text"][precision]}
            for batch, row in result[precision]["audio"].items():  # the bound, round by round
                row["bound_in_turns"] = share_by_rounds(
                    result["audio_flops"], int(batch[1:]), row["rounds"],
                    rows["audio"][f"product {precision}"][batch]["rounds"], products[precision][1])
            result[precision]["compile_seconds"] = waited[precision]
            check = {"audio": unit_rows(model.encode_audio(clips[:2]))}
            if spec.get("files"):
                result[precision].update(files_per_s(model, spec["files"], spec["workers"], spec["repeats"]))
                check.update(result[precision]["check"])
            result[precision]["check"] = check
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def files_per_s(model: Any, files: list[str], workers: list[int], repeats: int) -> dict[str, Any]:
    """Files/s of ``embed_audio_files`` per decoding-worker count, the first files' embeddings, and the
    CPU-work limit (``cpu_work_parts``). After one untimed round, each of ``repeats`` rounds times the
    file path with every worker count and then the limit's parts, so that the share of the limit compares
    timings made moments apart; each figure is the fastest of its rounds."""
    from openclap import embed_audio_files

    def run(n: int) -> Any:
        return embed_audio_files(model, files, long_audio="crop", workers=n)

    result = run(workers[0])
    cpu_work_parts(model, files)
    best: dict[str, float] = {"decode_s": float("inf"), "model_s": float("inf")}
    seconds = {n: float("inf") for n in workers}
    for _ in range(repeats):
        for n in workers:
            start = time.perf_counter()
            result = run(n)
            seconds[n] = min(seconds[n], time.perf_counter() - start)
        for key, value in cpu_work_parts(model, files).items():
            best[key] = min(best[key], value)
    cores = os.cpu_count() or 1
    limit = {**best, "cores": cores, "files_per_s": cores / (best["decode_s"] + best["model_s"])}
    return {
        "files_per_s_by_workers": {str(n): len(files) / s for n, s in seconds.items()},
        "check": {"files": unit_rows(torch.from_numpy(result.embeddings))},
        "cpu_work_limit": limit,
    }


def cpu_work_parts(model: Any, files: list[str], batch: int = 32) -> dict[str, float]:
    """One timing of the CPU work per file, all on one thread (the work, not the wall time of a parallel
    run): ``decode_s``, decoding and resampling a file (the mean over ``files``), and ``model_s``, a
    clip's share of a ``batch``-clip call. Spread over every core they allow ``cores / (decode_s +
    model_s)`` files/s, the limit."""
    from openclap.audio.io import load_mono

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = model.config.audio
        start = time.perf_counter()
        waves = [load_mono(path, cfg.sample_rate) for path in files]
        decode = (time.perf_counter() - start) / len(files)
        clips = torch.zeros(batch, cfg.clip_samples)
        for i in range(batch):
            wave = torch.from_numpy(waves[i % len(waves)][: cfg.clip_samples])
            clips[i, : len(wave)] = wave
        start = time.perf_counter()
        model.encode_audio(clips)
        per_clip = (time.perf_counter() - start) / batch
    finally:
        torch.set_num_threads(threads)
    return {"decode_s": decode, "model_s": per_clip}


def family_specs(
    family: str, tmp: Path, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    base = {
        "batch_sizes": args.batch_sizes,
        "repeats": args.repeats,
        "threads": args.threads,
        "precisions": args.precisions,
        "files": files_list(args.files),
        "workers": args.workers,
        "compile": args.compile,
    }
    if family in OWN:
        return {**base, "ckpt": None, "inputs": None, "model": family}, None
    from seeded import parity_dir, state_dict, write_published  # parity cases' seeded weights

    root = parity_dir()
    folder = tmp / family
    folder.mkdir()
    ckpt = write_published(family, state_dict(root / family), folder)
    inputs = str(root / family / "inputs.safetensors")
    ours = {**base, "ckpt": str(ckpt), "inputs": inputs}
    impl, version = REFERENCE[family]
    rate = int(json.loads((root / family / "inputs.json").read_text())["model_sample_rate"])
    ref = {
        **base,
        "impl": impl,
        "version": version,
        "ckpt": str(ckpt),
        "inputs": inputs,
        "sample_rate": rate,
        "clip_samples": rate * CLIP_SECONDS[family],
    }
    return ours, ref


def files_list(n: int) -> list[str]:
    if not n:
        return []
    found = sorted(str(p) for p in (DATA / "audiocaps-demo" / "audio").glob("*.flac"))
    return (found * (n // len(found) + 1))[:n]


def main() -> None:
    if serve_child(measure_openclap):  # child mode
        return
    from openclap.allocator import ALLOCATOR_ENV, command_environment
    from openclap.cli_errors import check_output_path, positive_int
    from openclap.openmp import SPIN_COUNT, SPIN_ENV, spin_decided_by

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--families",
        nargs="+",
        default=[*REFERENCE, *OWN],
        choices=[*REFERENCE, *OWN],
    )
    parser.add_argument("--batch-sizes", nargs="+", type=positive_int, default=[1, 32])
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument(
        "--repeats", type=positive_int, default=2, help="timed calls per figure (the median of batch calls, "
        "the fastest of file runs)"
    )
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--files", type=int, default=0, help="also time N real files to embeddings")
    parser.add_argument(
        "--workers", nargs="+", type=positive_int, default=[1, 2], help="openclap's decoding workers"
    )
    parser.add_argument("--reference-python", default="/work/benchenv-h21/bin/python")
    parser.add_argument("--out", type=Path, default=None, help="also write the raw results as JSON")
    parser.add_argument(
        "--compile", action="store_true", help="openclap's side compiled (compile_towers) after FLOPs"
    )
    parser.add_argument(
        "--allocator",
        choices=["openclap", "both", "none"],
        default="openclap",
        help="which children allocate and spin as the openclap command does (openclap.allocator: "
        "freed memory kept, huge pages; openclap.openmp: GOMP_SPINCOUNT): openclap's, or the "
        "references' too, or none",
    )
    args = parser.parse_args()
    if args.out is not None:  # before the minutes of measuring, not after
        try:
            check_output_path(args.out)
        except ValueError as err:
            parser.error(str(err))
    needs_env = [f for f in args.families if f in REFERENCE and REFERENCE[f][0] != "hf"]
    if needs_env and shutil.which(args.reference_python) is None:  # an executable file; before measuring
        parser.error(
            f"--reference-python {args.reference_python}: no such program ({', '.join(needs_env)} run their "
            "reference code there); build it with `sh benchmarks/reference_env/build.sh PATH`"
        )
    torch.set_num_threads(args.threads)
    rates, detail = matmul_rates()
    print(
        f"torch {torch.__version__}, {args.threads} threads, load {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores; matmul: fp32 {rates['fp32']:.0f} GFLOP/s (BLAS "
        f"{detail['fp32']['blas']:.0f}, oneDNN {detail['fp32']['onednn']:.0f}), bf16 {rates['bf16']:.0f} "
        f"GFLOP/s; openclap {'compiled' if args.compile else 'eager'}",
        flush=True,
    )
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    for name in ALLOCATOR_ENV:
        env.pop(name, None)
    tuned = {**env, **command_environment()}  # as openclap.allocator.configure_allocator
    if not spin_decided_by(env):  # as openclap.openmp.shorter_spin
        tuned[SPIN_ENV] = str(SPIN_COUNT)
    ours_env = env if args.allocator == "none" else tuned
    ref_env = tuned if args.allocator == "both" else env
    results: dict[str, Any] = {"matmul_gflops": rates, "matmul_gflops_by_library": detail}
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            ours, ref = family_specs(family, Path(tmp), args)
            start = time.perf_counter()
            results[family] = {"openclap": run_child(sys.executable, Path(__file__), ours, ours_env)}
            if ref is not None:
                python = sys.executable if ref["impl"] == "hf" else args.reference_python
                results[family]["reference"] = run_child(python, HERE / "reference_speed.py", ref, ref_env)
            print(f"  {family}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
            if args.out:  # after every family, so a long run that is stopped keeps what it measured
                args.out.write_text(json.dumps(results, indent=2))
    results["matmul_gflops_after"], results["matmul_gflops_after_by_library"] = matmul_rates()
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    from speed_table import print_tables

    print_tables(results, args)


if __name__ == "__main__":
    main()
