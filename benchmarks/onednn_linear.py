"""fp32 linears through oneDNN against the BLAS (MKL): GEMM rates by shape, then each tower eager, in one run.

Usage: .venv/bin/python benchmarks/onednn_linear.py [--cases msclap-2022 ...] [--batch-size 16]
           [--text-batch 32] [--rounds 3] [--threads 2]

First the fp32 GEMM rate (GFLOP/s, best of 5) of ``F.linear`` (torch's BLAS: MKL on x86-64 wheels) and of
oneDNN's product (``torch.ops.mkldnn._linear_pointwise``, what ``openclap.onednn`` routes to) on the
shapes of the towers' layers and 2048^3. Then every parity case (seeded weights in the published layout,
converted; ``../shared/parity``) and ``openclap-yamnet`` (shipped weights): the audio tower on
``--batch-size`` clips of noise and the text tower on ``--text-batch`` copies of the case's stored token
ids, eager fp32 under ``torch.inference_mode``, with the ``nn.Linear`` layers on oneDNN (openclap's
default) and on the BLAS (the instance forward removed), alternating for ``--rounds`` rounds; printed
are the best of each, the ratio and the largest absolute difference of the embeddings. The process
allocates as the ``openclap`` command does (``openclap.allocator.configure_allocator``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from seeded import CASES, parity_case

from openclap import create_model
from openclap.allocator import configure_allocator
from openclap.cli_errors import positive_int
from openclap.onednn import available

SHAPES = [  # (M, K, N): HTS-AT stages 1 / 3 (batch 16), BERT-base / MiniLM (32 x 32 tokens), 2048^3
    (65536, 96, 288),
    (65536, 96, 384),
    (65536, 384, 96),
    (4096, 384, 1536),
    (4096, 1536, 384),
    (1024, 768, 3072),
    (1024, 3072, 768),
    (1024, 384, 1536),
    (2048, 2048, 2048),
]


def best_seconds(fn: Callable[[], Any], repeats: int = 5) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_table() -> None:
    print("| M x K x N | BLAS (F.linear) GFLOP/s | oneDNN GFLOP/s | ratio |")
    print("|---|---|---|---|")
    g = torch.Generator().manual_seed(0)
    for m, k, n in SHAPES:
        x, w, b = torch.randn(m, k, generator=g), torch.randn(n, k, generator=g), torch.randn(n, generator=g)
        flops = 2 * m * k * n
        with torch.inference_mode():
            blas = best_seconds(lambda: F.linear(x, w, b))  # noqa: B023
            dnn = best_seconds(lambda: torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], ""))  # noqa: B023
        print(f"| {m} x {k} x {n} | {flops / blas / 1e9:.0f} | {flops / dnn / 1e9:.0f} | {blas / dnn:.2f}x |")


def set_routed(model: torch.nn.Module, routed: dict[torch.nn.Linear, Any], on: bool) -> None:
    for layer, forward in routed.items():
        if on:
            layer.forward = forward  # type: ignore[method-assign]
        elif "forward" in vars(layer):
            del layer.forward


def compare(label: str, model: torch.nn.Module, run: Callable[[], torch.Tensor], rounds: int, n: int) -> None:
    routed = {m: vars(m)["forward"] for m in model.modules() if "forward" in vars(m)}
    times: dict[bool, list[float]] = {True: [], False: []}
    outs: dict[bool, torch.Tensor] = {}
    with torch.inference_mode():
        for _ in range(rounds):
            for on in (False, True):
                set_routed(model, routed, on)
                outs[on] = run()  # warm-up, and the embeddings compared
                start = time.perf_counter()
                run()
                times[on].append(time.perf_counter() - start)
    set_routed(model, routed, True)
    blas, dnn = min(times[False]), min(times[True])
    diff = float((outs[True] - outs[False]).abs().max())
    print(f"| {label} | {len(routed)} | {n / blas:.1f} | {n / dnn:.1f} | {blas / dnn:.2f}x | {diff:.1e} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--text-batch", type=positive_int, default=32)
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument("--threads", type=positive_int, default=2)
    args = parser.parse_args()
    configure_allocator()
    torch.set_num_threads(args.threads)
    if not available():
        raise SystemExit("oneDNN linears are off here (not x86-64, no oneDNN, or OPENCLAP_ONEDNN_LINEAR=0)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    gemm_table()
    print("\n| tower (eager fp32) | linears in the model | BLAS items/s | oneDNN items/s | ratio | diff |")
    print("|---|---|---|---|---|---|")
    g = torch.Generator().manual_seed(0)
    for name in [*args.cases, "openclap-yamnet"]:
        if name == "openclap-yamnet":
            model = create_model(name).eval()
            tokens = model.tokenize(["a dog barks in the rain"] * args.text_batch)
        else:
            case = parity_case(name)
            model = case.model
            tokens = {k: v[:1].repeat(args.text_batch, 1) for k, v in case.tokens.items()}
        wave = 0.1 * torch.randn(args.batch_size, model.config.audio.clip_samples, generator=g)
        audio = lambda: model.encode_audio(wave)  # noqa: B023, E731
        text = lambda: model.encode_text(tokens)  # noqa: B023, E731
        compare(f"{name} audio, batch {args.batch_size}", model, audio, args.rounds, args.batch_size)
        compare(f"{name} text, batch {args.text_batch}", model, text, args.rounds, args.text_batch)


if __name__ == "__main__":
    main()
