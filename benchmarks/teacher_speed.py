"""Embedding speed of the aisfx distillation teacher beside the shipped openclap-small, same process.

The teacher (recipes/default_model/teacher.py) is the one encoder at hand whose embeddings reach the
default model's linear-probe target; this prints how far it is from the speed target. Both embed 5 s
clips of noise (speed does not depend on the content): the teacher from 44.1 kHz (log-mel, 100-frame
blocks with hop 50, mean over blocks), openclap-small from 16 kHz, each with its own front end.

Usage: .venv/bin/python benchmarks/teacher_speed.py \
           --weights /work/openclap-data/aisfx/unz/aisfx/models/checkpoint.pth
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from speedlib import median_seconds as timed  # the shared warm-up + median timer

from openclap import create_model

TEACHER_PY = Path(__file__).resolve().parents[1] / "recipes" / "default_model" / "teacher.py"


def _teacher_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("recipe_teacher", TEACHER_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, required=True, help="aisfx checkpoint.pth")
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    teacher_mod = _teacher_module()
    teacher, feats = teacher_mod.load_teacher(args.weights), teacher_mod.TeacherFeatures()
    rng = np.random.default_rng(0)
    waves44 = [torch.from_numpy(rng.standard_normal(5 * 44100).astype(np.float32) * 0.1)
               for _ in range(args.clips)]
    small = create_model("openclap-small")
    waves16 = torch.from_numpy(rng.standard_normal((args.clips, 5 * 16000)).astype(np.float32) * 0.1)

    def run_teacher() -> None:
        with torch.inference_mode():
            blocks = [feats(w) for w in waves44]
            out = teacher(torch.cat(blocks))
            torch.stack([chunk.mean(0) for chunk in out.split([len(b) for b in blocks])])

    def run_small() -> None:
        with torch.inference_mode():
            small.encode_audio(small.prepare_waveforms(list(waves16)))

    for name, fn in (("aisfx teacher", run_teacher), ("openclap-small", run_small)):
        seconds = timed(fn, args.repeats)
        rate = args.clips / seconds
        print(f"{name:16s} {rate:8.1f} clips/s (5 s clips, {args.threads} threads)", flush=True)


if __name__ == "__main__":
    main()
