"""Where the default model's bf16 deviation comes from: each rounding emulated alone, layer by layer.

Usage: .venv/bin/python benchmarks/bf16_error_sources.py [--audio DIR_OR_MANIFEST] [--limit 200]
           [--checkpoint FILE]

``openclap-yamnet`` (shipped weights, or ``--checkpoint``) embeds the clips in fp32 and under bf16
autocast; printed is the smallest and the mean cosine between the two per clip. Then, computing in
float32, one rounding to bf16 at a time is emulated in the folded convolution + batch norm + ReLU of every
layer (the first layer's split-precision convolution excepted, as under autocast): the folded weights, the
folded biases, the convolution inputs, all three (which should reproduce autocast). Then each layer alone
computed in float32 under autocast, and the deviation of the pooled features before the projection head.
The shipped weights are bf16 values since 2026-12-06 (``recipes/default_model/bf16_exact.py``), so
rounding the weights or the biases changes nothing there now; what is left is the inputs' rounding. Run it
on a checkpoint from before that step (``--checkpoint``) to see the three sources.

``--audio``: a folder of audio files or a manifest (JSON lines with an ``audio`` path, e.g. a corpus's
``manifest.jsonl``; its ``val`` split is used when it has one). Default: ../shared/data/audiocaps-demo.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

import openclap.audio.encoders.yamnet as yamnet
from openclap import AudioError, create_model, find_audio_files, load_mono
from openclap.checkpoint import CheckpointError
from openclap.model import ClapModel

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
Rounding = tuple[bool, bool, bool]  # weights, biases, inputs


def audio_paths(source: Path, limit: int) -> list[str]:
    if source.is_dir():
        paths = [str(p) for p in find_audio_files([source])]
    else:
        rows = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
        val = [r for r in rows if r.get("split") == "val"] or rows
        paths = [r["audio"] for r in val]
    step = max(1, len(paths) // limit)
    return paths[::step][:limit]


def bf16(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.bfloat16).float()


def emulated(rounding: Rounding) -> Callable[..., torch.Tensor]:
    """``yamnet._conv_bn_relu`` in float32 with the chosen operands rounded to bf16."""
    round_w, round_b, round_x = rounding

    def conv_bn_relu(conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
        weight, bias = yamnet.fold_batch_norm(conv, bn)
        first = isinstance(conv, yamnet.InputConv2d)  # split precision: float32-accurate under autocast
        weight = bf16(weight) if round_w and not first else weight
        bias = bf16(bias) if round_b else bias
        x = bf16(x) if round_x and not first else x
        padding = conv.padding
        if conv.stride[0] != 1:  # TensorFlow's 'SAME', as yamnet._conv_bn_relu pads it
            weight, padding = yamnet.same_as_conv_padding(weight, x, conv.stride[0])
        return F.relu(F.conv2d(x, weight, bias, conv.stride, padding, conv.dilation, conv.groups))

    return conv_bn_relu


@contextmanager
def patched(fn: Callable[..., torch.Tensor]) -> Iterator[None]:
    original = yamnet._conv_bn_relu
    yamnet._conv_bn_relu = fn
    try:
        yield
    finally:
        yamnet._conv_bn_relu = original


@contextmanager
def float32_module(module: torch.nn.Module) -> Iterator[None]:
    """``module`` computes in float32 even under autocast."""
    original = module.forward

    def forward(x: torch.Tensor, *args: object) -> torch.Tensor:
        with torch.autocast("cpu", enabled=False):
            return original(x.float(), *args)

    module.forward = forward  # type: ignore[method-assign]
    try:
        yield
    finally:
        del module.forward


def embed(model: ClapModel, wave: torch.Tensor, precision: str, features: bool = False) -> torch.Tensor:
    model.set_precision(precision)
    with torch.inference_mode():
        parts = [
            model.audio_features(wave[i : i + 32]).float()
            if features
            else model.encode_audio(wave[i : i + 32])
            for i in range(0, len(wave), 32)
        ]
    return torch.cat(parts).double()


def row(label: str, out: torch.Tensor, ref: torch.Tensor) -> None:
    cos = F.cosine_similarity(out, ref, dim=-1)
    print(f"| {label} | {cos.min():.6f} | {cos.mean():.7f} | {1 - cos.mean():.2e} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--audio", type=Path, default=DATA / "audiocaps-demo" / "audio")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument(
        "--checkpoint", type=Path, help="an openclap-yamnet checkpoint (default: the shipped one)"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.checkpoint is not None and not args.checkpoint.is_file():
        parser.error(f"--checkpoint {args.checkpoint}: no such file")
    try:
        model = create_model("openclap-yamnet", checkpoint=args.checkpoint).eval()
    except CheckpointError as err:
        parser.error(str(err))
    rate = model.config.audio.sample_rate
    if not args.audio.exists():
        parser.error(f"--audio {args.audio}: no such folder or manifest")
    paths = audio_paths(args.audio, args.limit)
    if not paths:
        parser.error(f"--audio {args.audio}: no audio files in it")
    clips = []
    for path in paths:
        try:
            clips.append(torch.from_numpy(load_mono(path, rate)))
        except AudioError as err:
            print(f"skipped: {err}")  # the error names the file
    if not clips:
        parser.error(f"--audio {args.audio}: none of its files could be decoded")
    wave = model.prepare_waveforms(clips)
    print(f"{len(clips)} clips from {args.audio}\n")
    print("| embeddings, fp32 against | min cosine | mean cosine | 1 - mean |")
    print("|---|---|---|---|")
    ref = embed(model, wave, "fp32")
    row("bf16 autocast", embed(model, wave, "bf16"), ref)
    for label, rounding in (
        ("float32, weights rounded", (True, False, False)),
        ("float32, biases rounded", (False, True, False)),
        ("float32, inputs rounded", (False, False, True)),
        ("float32, all three rounded", (True, True, True)),
    ):
        with patched(emulated(rounding)):
            row(label, embed(model, wave, "fp32"), ref)
    layers = list(model.audio_encoder.layers)
    for i, layer in enumerate(layers):
        with float32_module(layer):
            row(f"bf16, layer {i} in float32", embed(model, wave, "bf16"), ref)
    with float32_module(model.audio_projection):
        row("bf16, projection head in float32", embed(model, wave, "bf16"), ref)
    features = embed(model, wave, "fp32", features=True)
    row("pooled features (before the head), bf16", embed(model, wave, "bf16", features=True), features)


if __name__ == "__main__":
    main()
