"""Files per second of ``embed_audio_files`` (decode + resample + embed) for several decoding-thread counts.

Usage: .venv/bin/python benchmarks/embed_files_speed.py ../shared/data/esc50-fold4/audio \\
           [--model openclap-yamnet] [--device cpu] [--workers 1 2 4] [--copies 1] [--processes]
           [--precision fp32] [--limit] [--compile] [--concurrent-batches 0 1]
``--copies N`` embeds the found files N times over (to time many files from a few real ones). Every
worker count (threads, and with ``--processes`` worker processes too) must give the same embeddings bit
for bit as the first; the script says so per line. ``--concurrent-batches``: the batches run at once
(0: the library's default; the default model on a CPU runs torch's threads' worth side by side, each
thread decoding its own files, so ``--workers`` then changes nothing; 1: one batch at a time on every
thread, decoding in ``--workers`` threads). ``--limit`` first measures the CPU seconds per file of
decoding + resampling and of the model (one by one, one thread, the least of five timings each) and
prints the files/s that this work allows when spread over all cores, and each line's share of it.
``--compile``: the model's audio path compiled (``create_model(..., compile=True)``); the warm-up embeds
every file once first, so its wait is not timed. The process allocates as the ``openclap`` command does
(``openclap.allocator.configure_allocator``); the command also shortens OpenMP's spin
(``openclap.openmp``), which must be set before torch loads: run with ``GOMP_SPINCOUNT=100000`` to
measure as it does.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from openclap import configure_allocator, create_model
from openclap.cli_errors import positive_int
from openclap.inference import concurrent_batches_for, embed_audio_files, find_audio_files


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="+", help="audio files or folders")
    parser.add_argument("--model", default="openclap-yamnet")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=positive_int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--copies", type=positive_int, default=1)
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--processes", action="store_true", help="also time decoding in worker processes")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--limit", action="store_true", help="measure the CPU-work limit first")
    parser.add_argument("--compile", action="store_true", help="torch.compile the audio path first")
    parser.add_argument(
        "--concurrent-batches",
        type=int,
        nargs="+",
        default=[0],
        help="batches run at once (embed_audio_files' concurrent_batches; 0: the library's default)",
    )
    args = parser.parse_args()
    lowest = min(args.concurrent_batches)
    if lowest < 0:  # before the model loads and the warm-up runs
        parser.error(f"--concurrent-batches: must be 0 (the default) or more, got {lowest}")
    configure_allocator()  # before any tensor exists
    files = find_audio_files(args.paths) * args.copies
    model = create_model(args.model, device=args.device, precision=args.precision, compile=args.compile)
    # warm-up (and compile) over every file: a first run of the full size grows the threads' heaps
    # (31,881 page faults against 429-13,111 in the runs after it, 400 files side by side)
    embed_audio_files(model, files, batch_size=args.batch_size, workers=1)
    limit = cpu_limit(model, files[:48], args.batch_size) if args.limit else None
    print(
        f"torch {torch.__version__}, {args.device}, {torch.get_num_threads()} torch threads, "
        f"{len(files)} files, batch {args.batch_size}"
    )
    first = None
    for asked in args.concurrent_batches:
        batches = concurrent_batches_for(model, asked or None)
        for workers in args.workers:
            for processes in (False, True) if args.processes else (False,):
                start, cpu = time.perf_counter(), _cpu_seconds()
                result = embed_audio_files(
                    model,
                    files,
                    batch_size=args.batch_size,
                    workers=workers,
                    processes=processes,
                    concurrent_batches=batches,
                )
                seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
                first = result.embeddings if first is None else first
                same = np.array_equal(first, result.embeddings)
                share = f"  {len(files) / seconds / limit:5.0%} of the limit" if limit else ""
                kind = "processes" if processes else "threads"
                print(
                    f"batches at once {batches}, workers {workers:3d} {kind:9s}: {len(files) / seconds:8.1f}"
                    f" files/s{share}, CPU {cpu / len(files) * 1e3:.1f} ms/file; identical to the first: "
                    f"{same}",
                    flush=True,
                )


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (decoding worker processes)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cpu_limit(model, files: list[str], batch_size: int, repeats: int = 5) -> float:  # type: ignore[no-untyped-def]
    """Files/s that the measured CPU work per file allows on all cores (decode + resample + model), each
    part timed ``repeats`` times on one thread and its least CPU time kept (the strictest limit)."""
    from openclap.audio.io import load_mono
    from openclap.inference import embed_audio

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    embed_audio_files(model, files[:batch_size], batch_size=batch_size, workers=1)  # warm-up
    decode = embed = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        waves = [load_mono(f, model.config.audio.sample_rate) for f in files]
        decode = min(decode, (time.process_time() - start) / len(files))
        start = time.process_time()
        embed_audio(model, waves, model.config.audio.sample_rate, batch_size=batch_size)
        embed = min(embed, (time.process_time() - start) / len(files))
    torch.set_num_threads(threads)
    cores = os.cpu_count() or 1
    limit = cores / (decode + embed)
    print(
        f"CPU per file, one by one on one thread (least of {repeats}): decode + resample "
        f"{decode * 1e3:.1f} ms, model {embed * 1e3:.1f} ms; limit on {cores} cores {limit:.1f} files/s"
    )
    return limit


if __name__ == "__main__":
    main()
