"""A batch of 32 clips in one forward pass against smaller chunks, alternating in one process.

Usage: .venv/bin/python benchmarks/chunk_size.py MODEL PRECISION [--eager] [--sizes 32 16 8 4 2]
           [--side-by-side]

The model (random weights for the published families, the shipped ones for ``openclap-yamnet``) is
compiled (``compile_towers``; build its package once beforehand) or left eager; each chunk size then runs
the same 32 noise clips through the audio tower (``project_audio(audio_features(...))``, which
``encode_audio`` chunks itself: see ``ClapModel.cpu_chunk``) four times in turn, and the best clips/s
of each is printed. Huge pages as in the ``openclap`` command (``openclap.allocator``).

``--side-by-side``: each chunk size instead runs as ``embed_audio_files`` runs batches side by side
(``openclap.batch_threads``): two threads, each on one intra-op thread, each over half the clips; beside
it, one 1-thread call over half the clips alone, and the side-by-side rate's share of twice that (what
the two calls lose to each other: the shared cache, memory). The chunk sizes must then divide 16.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable

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
        "--sizes", type=int, nargs="+", default=[32, 16, 8, 4, 2], help="chunk sizes, each dividing 32 (16)"
    )
    parser.add_argument(
        "--side-by-side", action="store_true", help="two 1-thread calls at once, each over half the clips"
    )
    args = parser.parse_args()
    whole = 16 if args.side_by_side else 32
    if any(size < 1 or whole % size for size in args.sizes):
        parser.error(f"--sizes: each must divide {whole}, got {args.sizes}")
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
    if args.side_by_side:
        side_by_side(tower, wave, args)
        return
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


def side_by_side(
    tower: Callable[[torch.Tensor], torch.Tensor], wave: torch.Tensor, args: argparse.Namespace
) -> None:
    """Per chunk size: two 1-thread calls at once over half the clips each, and one such call alone."""
    halves = wave.split(wave.shape[0] // 2)

    def one(part: torch.Tensor, size: int) -> None:  # a worker as batch_threads runs it
        torch.set_num_threads(1)
        with torch.inference_mode():
            torch.cat([tower(chunk) for chunk in part.split(size)])

    def alone(size: int) -> None:
        one(halves[0], size)
        torch.set_num_threads(2)

    def together(size: int) -> None:
        workers = [threading.Thread(target=one, args=(half, size)) for half in halves]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    best = {(mode, size): float("inf") for size in args.sizes for mode in ("alone", "side by side")}
    for size in args.sizes:  # warm-up
        alone(size)
        together(size)
    for _ in range(4):
        for size in args.sizes:
            for mode, run in (("alone", alone), ("side by side", together)):
                start = time.perf_counter()
                run(size)
                best[(mode, size)] = min(best[(mode, size)], time.perf_counter() - start)
    print(f"{args.model} {args.precision}, 1-thread calls, clips/s by chunk size (best of 4):")
    for size in args.sizes:
        single = halves[0].shape[0] / best[("alone", size)]
        paired = wave.shape[0] / best[("side by side", size)]
        print(
            f"  {size}: alone {single:.1f}, side by side {paired:.1f} ({100 * paired / (2 * single):.0f} %)"
        )


if __name__ == "__main__":
    main()
