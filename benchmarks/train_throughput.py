"""Training throughput (samples/s) and peak memory of full CLAP training steps.

One step = log-mel + audio encoder + text tower + projections + symmetric InfoNCE, backward, gradient
clipping and an AdamW update, exactly as ``openclap train`` runs it (``TrainModule``), on synthetic
clips of the model's length and short captions; data loading is left out (decoding and resampling
cost a few ms per clip, see the note printed at the end). Each (model, precision, text mode) runs in
its own process so its peak resident memory (``ru_maxrss``) is its own.

    .venv/bin/python benchmarks/train_throughput.py --models openclap-small cnn14-minilm --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

import torch

CAPTIONS = [
    "a dog barks twice in the distance",
    "rain falls on a tin roof",
    "a violin playing a long note, forte",
    "someone says the number seven",
]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _build(model_name: str, freeze_text: bool, device: torch.device) -> tuple[Any, Any, Any, Any]:
    from openclap.loss import ClapLoss
    from openclap.model import ClapModel
    from openclap.registry import get_config
    from openclap.train.config import AugmentConfig, FreezeConfig, OptimConfig
    from openclap.train.freeze import apply_freeze
    from openclap.train.module import TrainModule
    from openclap.train.optim import build_optimizer

    torch.manual_seed(0)
    model = ClapModel(get_config(model_name)).to(device).train()
    frozen = apply_freeze(model, FreezeConfig(text=freeze_text))
    if hasattr(model.audio_encoder, "fc_audioset"):  # not part of the CLAP forward
        model.audio_encoder.fc_audioset.requires_grad_(False)
    if model.config.text_encoder.pooling != "pooler" and hasattr(model.text_encoder.model, "pooler"):
        model.text_encoder.model.pooler.requires_grad_(False)
    module = TrainModule(model, AugmentConfig(), frozen).train()
    return model, module, build_optimizer(model, OptimConfig()), ClapLoss()


def _step(
    model: Any, module: Any, optimizer: Any, loss_fn: Any, batch: int, precision: str, cache: Any, mix: float
) -> float:
    from openclap.train.module import autocast_context

    device = model.logit_scale.device
    wave = torch.randn(batch, model.config.audio.clip_samples, device=device) * 0.1
    pool = CAPTIONS
    captions = [pool[i % len(pool)] for i in range(batch)]
    with autocast_context(precision, device):
        if cache is not None:
            mixed = round(mix * batch)
            keep = [i >= mixed for i in range(batch)]
            partner = [pool[-1 - i % len(pool)] for i in range(batch)]
            texts = [c if i >= mixed else f"{c} and {partner[i]}" for i, c in enumerate(captions)]
            text = cache.features(texts, keep).to(device)
        else:
            text = {k: v.to(device) for k, v in model.tokenize(captions).items()}
        out = module(wave, text, 0)
    loss = loss_fn(out["audio_emb"], out["text_emb"], out["logit_scale"])
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss)


TEXT_MODES = {"trained": "trained", "frozen": "frozen (LiT)", "cached": "frozen, cached"}


def measure(
    model_name: str, batch: int, steps: int, warmup: int, precision: str, text: str, mix: float
) -> dict:
    from openclap.train.text_cache import TextFeatureCache

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, module, optimizer, loss_fn = _build(model_name, text != "trained", device)
    cache = TextFeatureCache(model, 100_000) if text == "cached" else None
    rss_model = _rss_mb()
    for _ in range(max(1, warmup) if cache is not None else warmup):  # fills the cache
        _step(model, module, optimizer, loss_fn, batch, precision, cache, mix)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    for _ in range(steps):
        _step(model, module, optimizer, loss_fn, batch, precision, cache, mix)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    cpu = (_cpu_seconds() - cpu_start) / steps
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result = {
        "model": model_name,
        "precision": precision,
        "text": TEXT_MODES[text] + (f" ({mix:.0%} mixes)" if cache is not None else ""),
        "batch": batch,
        "clip_seconds": model.config.audio.clip_seconds,
        "sample_rate": model.config.audio.sample_rate,
        "seconds_per_step": seconds,
        "samples_per_s": batch / seconds,
        "cpu_seconds_per_step": cpu,  # load-independent: compare with threads x wall seconds
        "load_average_1min": os.getloadavg()[0],
        "peak_rss_mb": _rss_mb(),
        "rss_after_build_mb": rss_model,
        "trainable_params_m": trainable / 1e6,
        "threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def _table(rows: list[dict]) -> str:
    head = (
        "| model | precision | text tower | batch | s/step | samples/s | CPU s/step | load | peak RSS (MB) "
        "| trainable (M) |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['precision']} | {r['text']} | {r['batch']} | {r['seconds_per_step']:.2f} | "
            f"{r['samples_per_s']:.1f} | {r['cpu_seconds_per_step']:.2f} | {r['load_average_1min']:.1f} | "
            f"{r['peak_rss_mb']:.0f} | {r['trainable_params_m']:.1f} |"
        )
    return "\n".join(lines)


def _use_captions_of(manifest: str) -> None:
    from openclap.data.manifest import read_manifest

    entries = read_manifest(manifest, resolve=False)
    entries = entries[:: max(1, len(entries) // 256)][:256]
    CAPTIONS[:] = [entry.captions[0] for entry in entries]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=["openclap-small", "cnn14-minilm"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--text", nargs="+", default=["trained"], choices=list(TEXT_MODES))
    parser.add_argument("--mix-prob", type=float, default=0.3, help="cached mode: share of mixed captions")
    parser.add_argument(
        "--manifest", default=None, help="take the captions from this manifest (256 clips spread over it)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--out", default=None, help="also write the results as JSON")
    parser.add_argument("--one", nargs=3, metavar=("MODEL", "PRECISION", "TEXT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.manifest:
        _use_captions_of(args.manifest)
    if args.one:
        model, precision, text = args.one
        print(
            json.dumps(
                measure(model, args.batch_size, args.steps, args.warmup, precision, text, args.mix_prob)
            )
        )
        return 0
    rows = []
    for model in args.models:
        for precision in args.precision:
            for text in args.text:
                rows.append(_run_child(args, model, precision, text))
                print(json.dumps(rows[-1]), file=sys.stderr)
    print(_table(rows))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


def _run_child(args: argparse.Namespace, model: str, precision: str, text: str) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--one",
        model,
        precision,
        text,
        "--batch-size",
        str(args.batch_size),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--mix-prob",
        str(args.mix_prob),
    ]
    if args.manifest:
        cmd += ["--manifest", args.manifest]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{model} {precision} {text} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
