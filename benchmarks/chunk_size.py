"""A batch of 32 clips in one forward pass against smaller chunks, alternating in one process.

Usage: .venv/bin/python benchmarks/chunk_size.py MODEL PRECISION [--eager] [--sizes 32 16 8 4 2]

The model (random weights for the published families, the shipped ones for ``openclap-yamnet``) is
compiled (``compile_towers``; build its package once beforehand) or left eager; each chunk size then runs
the same 32 noise clips through the audio tower (``project_audio(audio_features(...))``, which
``encode_audio`` chunks itself: see ``ClapModel.cpu_chunk``) four times in turn, and the best clips/s
of each is printed. Huge pages as in the ``openclap`` command (``openclap.allocator``).
"""

from __future__ import annotations

import argparse
import time

import torch

from openclap import configure_allocator, create_model, list_models


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", choices=list_models())
    parser.add_argument("precision", choices=["fp32", "bf16"])
    parser.add_argument("--eager", action="store_true")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[32, 16, 8, 4, 2], help="chunk sizes, each dividing 32"
    )
    args = parser.parse_args()
    if any(size < 1 or 32 % size for size in args.sizes):
        parser.error(f"--sizes: each must divide 32, got {args.sizes}")
    configure_allocator()  # as the openclap command does
    torch.set_num_threads(2)
    torch.manual_seed(0)
    trained = args.model == "openclap-yamnet"
    model = create_model(args.model, pretrained=trained, text=False).set_precision(args.precision).eval()
    if not args.eager:
        model.compile_towers()
    compiled = model._compiled_audio.get(args.precision)

    def tower(wave: torch.Tensor) -> torch.Tensor:  # one forward pass, never chunked
        if compiled is not None:
            return compiled(wave)
        return model.project_audio(model.audio_features(wave))

    g = torch.Generator().manual_seed(0)
    wave = 0.1 * torch.randn(32, model.config.audio.clip_samples, generator=g)
    best = {size: float("inf") for size in args.sizes}
    with torch.inference_mode():
        for size in best:  # warm-up
            torch.cat([tower(part) for part in wave.split(size)])
        for _ in range(4):
            for size in best:
                start = time.perf_counter()
                torch.cat([tower(part) for part in wave.split(size)])
                best[size] = min(best[size], time.perf_counter() - start)
    mode = "eager" if args.eager else "compiled"
    rates = ", ".join(f"{size}: {32 / seconds:.1f}" for size, seconds in best.items())
    print(f"{args.model} {args.precision} {mode}, clips/s by chunk size (best of 4): {rates}")


if __name__ == "__main__":
    main()
