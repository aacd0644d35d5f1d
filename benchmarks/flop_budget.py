"""Where a compiled audio tower's time goes against its FLOP bound: matrix products, softmax, FFT, the rest.

Usage: .venv/bin/python benchmarks/flop_budget.py [--model msclap-2023] [--batch-size 8]
           [--precision fp32] [--rounds 3] [--top 0 [--by-shape]]

The model (random weights for the published families: their speed without the download) is compiled with
``torch.compile`` with the batch dimension dynamic (the clip length fixed) and
``openclap.compiled.INDUCTOR_OPTIONS``: the same kernels the AOTInductor package runs (oneDNN linears and
convolutions with their fused activations, since the batch is dynamic), but visible to ``torch.profiler``
(``cpp.enable_kernel_profile``). Printed: FLOPs per clip (torch's counter), the matmul rate
(``speedlib.matmul_gflops``: 2048^3 and 3072^3 products in this precision, the fastest of torch's BLAS and
oneDNN, each a median of 5), the FLOP bound of one batch, the compiled batch time (best of ``--rounds``),
and the profiled time split into categories, each in milliseconds per
clip and as a multiple of the bound: matrix products (linear, mm, bmm, convolution), the softmax kernels,
the fused window attention (``openclap.kernels``: its products and softmax in one native op, which an
HTS-AT package calls, and so is traced here too), the FFT (torch's, or ``openclap.kernels``' one-pass
spectrogram, which packages call for the front end: its framing, magnitude and mel product too), other
fused kernels, and what the profiler sees outside kernels. "within 1.3x of the bound" needs the total
under 1.3.
The process allocates as the ``openclap`` command does (``openclap.allocator``: freed memory kept in
glibc's heap, large tensors on huge pages); ``THP_MEM_ALLOC_ENABLE=0`` or ``MALLOC_MMAP_THRESHOLD_`` /
``MALLOC_TRIM_THRESHOLD_`` before the command measure otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import time
from collections import defaultdict

import torch
import torch._inductor.config as inductor_config
from speedlib import matmul_gflops
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from openclap import create_model, kernels, list_models
from openclap.allocator import configure_allocator
from openclap.cli_errors import positive_int
from openclap.compiled import INDUCTOR_OPTIONS, native_kernels

GEMM_OPS = (
    "mkldnn::_linear_pointwise",
    "mkl::_mkl_linear",
    "aten::bmm",
    "aten::mm",
    "aten::addmm",
    "mkldnn::_convolution_pointwise",
    "aten::convolution",
    "aten::mkldnn_convolution",
)


def category(name: str) -> str:
    if name.startswith("openclap::swin_window_attention"):
        return "window attention (fused)"
    if name.startswith(GEMM_OPS):
        return "matrix products"
    if "_fft_" in name or name.startswith("openclap::frame_rfft_mel"):
        return "FFT"
    if "cpp_fused" in name and "softmax" in name:
        return "softmax kernels"
    if "cpp_fused" in name:
        return "other fused kernels"
    return "outside kernels"


def _seconds(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="msclap-2023", choices=list_models())
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--rounds", type=positive_int, default=3)
    parser.add_argument(
        "--top", type=int, default=0, help="also print the N operators and kernels that took longest"
    )
    parser.add_argument(
        "--by-shape",
        action="store_true",
        help="--top per operator and input shapes (one convolution layer from another)",
    )
    args = parser.parse_args()
    allocator = configure_allocator()  # before any tensor exists, as the openclap command does
    torch.manual_seed(0)
    trained = args.model == "openclap-yamnet"
    model = create_model(args.model, pretrained=trained, text=False).eval()
    batch = args.batch_size
    g = torch.Generator().manual_seed(0)
    wave = 0.1 * torch.randn(batch, model.config.audio.clip_samples, generator=g)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.encode_audio(wave[:1])
    flops = counter.get_total_flops()
    model.set_precision(args.precision)
    for key, value in INDUCTOR_OPTIONS.items():
        setattr(inductor_config, key, value)
    inductor_config.cpp.enable_kernel_profile = True
    # the package's shapes: the batch dynamic, everything else fixed (with the clip length symbolic too,
    # inductor left the default model's convolutions unpacked: aten::mkldnn_convolution, ReLU apart)
    torch._dynamo.mark_dynamic(wave, 0)
    compiled = torch.compile(lambda w: model.project_audio(model.audio_features(w)))
    rates = matmul_gflops(torch.float32 if args.precision == "fp32" else torch.bfloat16, repeats=5)
    rate = rates["best"]
    bound = flops * batch / (rate * 1e9)
    fused = kernels.fused() if native_kernels(model) else contextlib.nullcontext()
    with torch.inference_mode(), fused:  # as the package is traced (the flag is read while tracing)
        compiled(wave)
        compiled(wave)
        best = min(_seconds(lambda: compiled(wave)) for _ in range(args.rounds))
        with profile(activities=[ProfilerActivity.CPU], record_shapes=args.by_shape) as prof:
            compiled(wave)
    spent: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        spent[category(event.key)] += event.self_cpu_time_total / 1e6
    profiled = sum(spent.values())
    print(
        f"{args.model} {args.precision}, batch {batch}, {torch.get_num_threads()} threads: "
        f"{flops / 1e9:.2f} GFLOP per clip, matmul {rate:.0f} GFLOP/s (BLAS {rates['blas']:.0f}, oneDNN "
        f"{rates['onednn']:.0f}), bound {1e3 * bound / batch:.1f} ms "
        f"per clip; compiled {1e3 * best / batch:.1f} ms per clip = {best / bound:.2f}x the bound "
        f"({batch / best:.1f} clips/s); profiled call {1e3 * profiled / batch:.1f} ms per clip; "
        f"huge pages {'on' if allocator['huge_pages'] else 'off'}, freed memory "
        f"{'kept' if allocator['keep_freed_memory'] else 'as the environment says'}"
    )
    print("| part | ms per clip | share | x the bound |")
    print("|---|---|---|---|")
    names = ("matrix products", "softmax kernels", "window attention (fused)", "FFT", "other fused kernels")
    for name in (*names, "outside kernels"):
        seconds = spent.get(name, 0.0)
        print(
            f"| {name} | {1e3 * seconds / batch:.1f} | {100 * seconds / profiled:.1f} % "
            f"| {seconds / bound:.2f} |"
        )
    if args.top > 0:
        grouped = prof.key_averages(group_by_input_shape=args.by_shape)
        events = sorted(grouped, key=lambda e: e.self_cpu_time_total, reverse=True)
        shapes = " | input shapes" if args.by_shape else ""
        print(f"| the {args.top} longest | category | calls | ms per clip{shapes} |")
        print("|---|---|---|---|" + ("---|" if args.by_shape else ""))
        for event in events[: args.top]:
            shape = f" | {str(event.input_shapes)[:90]}" if args.by_shape else ""
            print(
                f"| {event.key[:70]} | {category(event.key)} | {event.count} "
                f"| {event.self_cpu_time_total / 1e3 / batch:.3f}{shape} |"
            )
    gemm = spent["matrix products"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"matrix products ran at {flops * batch / gemm / 1e9:.0f} GFLOP/s "
        f"({rate * 1e9 * gemm / (flops * batch):.2f}x their FLOPs' share of the bound); "
        f"peak resident {peak:.0f} MB"
    )


if __name__ == "__main__":
    main()
