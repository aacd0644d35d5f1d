"""What the trainer's audio path fed the encoder, against what inference feeds it, on real clips.

For each LAION config (``quantize_int16: true``) and 8 AudioCaps demo clips (resampled to 48 kHz):
the encoder input (log-mel) and the audio embedding the trainer's ``TrainModule`` computes for a
dataset example, against ``ClapModel.encode_audio(prepare_waveforms(...))`` on the same clip and crop
(max abs difference in dB, cosine of the embeddings; random weights, seed 0: no LAION weights here).
For the fusion config: the trainable parameters that receive no gradient in one training step on those
clips kept whole (the clips are 10 s, so each is lengthened to 25 s by concatenating three of them).

    PYTHONPATH=src .venv/bin/python benchmarks/audio_path_skew.py

Before issue 19 (main at e076c1b: ``PYTHONPATH=<main>/src``), the trainer rebuilt the audio forward
without ``prepare_waveforms``: the LAION configs trained on unquantised audio, their encoder input
6.80 % of log-mel bins more than 1 dB off inference's (mean 0.54 dB, max 71.3 dB: near-silent bins that
int16 rounds to zero), embedding cosine >= 0.99998 with random weights; the fusion model trained on
plain 10 s crops ([B, 64, 1001], no fusion input) and all 18 fusion tensors (``mel_conv2d``,
``fusion_model``) were frozen as unused by the trainer's probe and got no gradient. After: the encoder
input and embeddings are bit-identical, and the fusion model trains on [B, 4, 64, 1001] with 0 fusion
tensors frozen or without a gradient (the other 4 without one, ``tscam_conv`` and ``head``, are HTS-AT's
AudioSet head, unused by CLAP).
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
import sys
from pathlib import Path

import numpy as np
import torch

from openclap.audio.io import load_mono
from openclap.config import ClapConfig
from openclap.data.datasets import ClipSettings, collate_examples, make_example
from openclap.model import ClapModel
from openclap.registry import get_config
from openclap.train.config import AugmentConfig, DataConfig, TrainConfig
from openclap.train.module import TrainModule
from openclap.train.runner import prepare_module

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "audiocaps-demo"
CONFIGS = ("laion-htsat-tiny", "laion-htsat-base", "laion-htsat-tiny-fusion")


def small_text(name: str) -> ClapConfig:
    """The registered config with tiny-test's text tower (the audio path is untouched)."""
    return dataclasses.replace(get_config(name), text_encoder=get_config("tiny-test").text_encoder)


def clips(rate: int, count: int = 8) -> list[np.ndarray]:
    with open(DATA / "metadata.csv") as f:
        files = sorted({row["filename"] for row in csv.DictReader(f)})[:count]
    return [load_mono(DATA / name, rate) for name in files]


class Capture:
    """Keeps the audio encoder's first input of every forward."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        self.seen: list[torch.Tensor] = []
        encoder.register_forward_pre_hook(lambda _m, args: self.seen.append(args[0].detach().clone()))


def train_forward(module: TrainModule, batch: dict, tokens: dict) -> torch.Tensor:
    if "lengths" in inspect.signature(module.forward).parameters:  # since issue 19: the model's audio path
        return module(batch["wave"], tokens, 0, batch["lengths"])["audio_emb"]
    return module(batch["wave"], tokens, 0)["audio_emb"]  # main before issue 19 (e076c1b)


def skew(name: str, waves: list[np.ndarray]) -> None:
    torch.manual_seed(0)
    model = ClapModel(small_text(name)).eval()
    cfg = model.config.audio
    capture = Capture(model.audio_encoder)
    settings = ClipSettings.from_frontend(cfg, seed=0, random_crop=False)
    examples = [make_example(w, ["a sound"], i, 0, settings) for i, w in enumerate(waves)]
    batch = collate_examples(
        [{"wave": c, "caption": t, "path": "", "key": 0, "span": s, "skipped": []} for c, t, s in examples]
    )
    tokens = model.tokenize(["a sound"] * len(waves))
    module = TrainModule(model, AugmentConfig()).eval()
    with torch.no_grad():
        trained = train_forward(module, batch, tokens)
        served = model.encode_audio(model.prepare_waveforms([torch.from_numpy(w) for w in waves]))
    mel_train, mel_serve = capture.seen
    diff = (mel_train - mel_serve).abs()
    cos = torch.nn.functional.cosine_similarity(trained, served, dim=-1)
    print(f"{name}: encoder input bit-identical {torch.equal(mel_train, mel_serve)}, "
          f"max |diff| {float(diff.max()):.4f} dB, mean {float(diff.mean()):.5f} dB, "
          f"{100 * float((diff > 1.0).float().mean()):.2f} % of bins off by > 1 dB; "
          f"embedding cosine min {float(cos.min()):.6f} mean {float(cos.mean()):.6f}, "
          f"max |diff| {float((trained - served).abs().max()):.5f}")


def fusion_gradients(waves: list[np.ndarray]) -> None:
    name = "laion-htsat-tiny-fusion"
    torch.manual_seed(0)
    model = ClapModel(small_text(name)).train()
    fusion = [n for n, _ in model.named_parameters() if "mel_conv2d" in n or "fusion_model" in n]
    config = TrainConfig(data=DataConfig(train_manifest="unused.csv"))  # prepare_module reads no data
    probed = prepare_module(config, model, torch.device("cpu"), verbose=False)
    frozen = [n for n in fusion if not model.get_parameter(n).requires_grad]
    for param in model.parameters():  # a step without the probe's freezing: which get a gradient at all
        param.requires_grad_(True)
    long = [np.concatenate([waves[i], waves[i + 1], waves[i + 2]])[: 25 * 48000] for i in range(0, 6, 3)]
    settings = ClipSettings.from_frontend(model.config.audio, seed=0, random_crop=True)
    examples = [make_example(w, ["a sound"], i, 0, settings) for i, w in enumerate(long)]
    batch = collate_examples(
        [{"wave": c, "caption": t, "path": "", "key": 0, "span": s, "skipped": []} for c, t, s in examples]
    )
    capture = Capture(model.audio_encoder)
    train_forward(probed, batch, model.tokenize(["a sound", "another sound"])).sum().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None and n.startswith("audio_")]
    print(f"{name}: {len(fusion)} fusion parameter tensors; frozen as unused by the trainer's probe: "
          f"{len(frozen)}; without a gradient in a step on {len(long)} clips of "
          f"{long[0].shape[0] / 48000:.0f} s: {len([n for n in no_grad if n in fusion])} fusion + "
          f"{len([n for n in no_grad if n not in fusion])} other audio-side; encoder input "
          f"{tuple(capture.seen[0].shape)}")
    print("  fusion parameters:", ", ".join(fusion), file=sys.stderr)
    print("  audio-side, no gradient:", ", ".join(no_grad), file=sys.stderr)


def main() -> None:
    torch.set_num_threads(2)
    waves = clips(48000)
    for name in CONFIGS[:2]:
        skew(name, waves)
    fusion_gradients(waves)


if __name__ == "__main__":
    main()
