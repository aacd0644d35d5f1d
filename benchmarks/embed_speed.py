"""Audio embedding speed (clips per second) of registered models on 5 s clips, on this machine.

Usage: .venv/bin/python benchmarks/embed_speed.py [--models openclap-yamnet openclap-small cnn14-minilm]
       [--clips 64] [--device cuda]
Models are freshly initialised (speed does not depend on the weights). Reports the median of
``--repeats`` timed passes after one warm-up pass, with the torch thread count. On a GPU the clips
start in CPU memory (as decoded audio does) and every batch is copied over; timing waits for the GPU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from openclap import create_model


def clips_per_second(
    name: str, clips: int, batch_size: int, repeats: int, seconds: float, device: str = "cpu"
) -> float:
    model = create_model(name, pretrained=False, device=device)
    rate = model.config.audio.sample_rate
    waves = torch.from_numpy(
        np.random.default_rng(0).standard_normal((clips, int(seconds * rate))).astype(np.float32) * 0.1
    )
    batch = model.prepare_waveforms(list(waves))
    times = []
    with torch.inference_mode():
        for i in range(repeats + 1):
            start = time.perf_counter()
            for j in range(0, clips, batch_size):
                model.encode_audio(batch[j : j + batch_size].to(device)).cpu()
            if i:  # the first pass is a warm-up
                times.append(time.perf_counter() - start)
    return clips / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["openclap-yamnet", "openclap-small", "cnn14-minilm"])
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    args = parser.parse_args()
    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    print(
        f"torch {torch.__version__}, {where}, {torch.get_num_threads()} threads, {args.seconds:g} s clips, "
        f"batch {args.batch_size}"
    )
    for name in args.models:
        cps = clips_per_second(name, args.clips, args.batch_size, args.repeats, args.seconds, args.device)
        print(f"{name:24s} {cps:8.1f} clips/s")


if __name__ == "__main__":
    main()
