"""Files per second of ``embed_audio_files`` (decode + resample + embed) for several decoding-thread counts.

Usage: .venv/bin/python benchmarks/embed_files_speed.py ../shared/data/esc50-fold4/audio \\
           [--model openclap-small] [--device cpu] [--workers 1 2 4] [--copies 1]
``--copies N`` embeds the found files N times over (to time many files from a few real ones). Every
thread count must give the same embeddings bit for bit as the first; the script says so per line.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from openclap import create_model
from openclap.inference import embed_audio_files, find_audio_files


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="+", help="audio files or folders")
    parser.add_argument("--model", default="openclap-small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    files = find_audio_files(args.paths) * args.copies
    model = create_model(args.model, device=args.device)
    embed_audio_files(model, files[:32], batch_size=args.batch_size, workers=1)  # warm-up
    print(
        f"torch {torch.__version__}, {args.device}, {torch.get_num_threads()} torch threads, "
        f"{len(files)} files, batch {args.batch_size}"
    )
    first = None
    for workers in args.workers:
        start = time.perf_counter()
        result = embed_audio_files(model, files, batch_size=args.batch_size, workers=workers)
        seconds = time.perf_counter() - start
        first = result.embeddings if first is None else first
        same = np.array_equal(first, result.embeddings)
        print(f"workers {workers:3d}: {len(files) / seconds:8.1f} files/s  identical to the first: {same}")


if __name__ == "__main__":
    main()
