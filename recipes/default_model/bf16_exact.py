"""Make a YAMNet-towered checkpoint bf16-exact: the last step before shipping ``openclap-yamnet``.

Under bf16 autocast every convolution and linear rounds its weights and bias to bf16, and for the default
model that rounding, not the activations', made most of its bf16 deviation (the AudioCaps-demo clips: min
cosine to fp32 0.999675 under autocast, 0.999672 with only the weights rounded, 0.999937 with only the
convolution inputs rounded; ``benchmarks/bf16_error_sources.py``). Stored bf16-exact, fp32 and bf16
inference compute with the same weights: each batch norm is folded into its convolution and the folded
weight and bias rounded (``YamNet.round_to_bf16_``; the first convolution, split precision under autocast,
keeps its exact weight), and the projection heads' linear weights and biases are rounded. Values stay
float32 in the file (same size, same layout); the config and the rest of the metadata are kept, with
``"bf16_exact": true`` added.

Usage: .venv/bin/python recipes/default_model/bf16_exact.py IN.safetensors --out OUT.safetensors
(``--out`` may be ``IN`` itself: the file is replaced atomically).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from openclap.atomic import atomic_write
from openclap.checkpoint import CheckpointError, read_config, read_metadata
from openclap.model import ClapModel


def round_linears_(module: torch.nn.Module) -> None:
    """Round the weight and bias of every ``nn.Linear`` in ``module`` to bf16 values, in place."""
    with torch.no_grad():
        for linear in module.modules():
            if isinstance(linear, torch.nn.Linear):
                for param in (linear.weight, linear.bias):
                    if param is not None:
                        param.copy_(param.to(torch.bfloat16).float())


def bf16_exact(path: Path, out: Path) -> None:
    """Read the openclap checkpoint ``path`` (a YAMNet audio tower), write it bf16-exact to ``out``."""
    meta = read_metadata(path)
    config = read_config(path)
    if config.audio_encoder.type != "yamnet":
        raise CheckpointError(f"{path}: audio_encoder.type is {config.audio_encoder.type!r}, not 'yamnet'")
    with safe_open(str(path), "pt") as f:
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    model = ClapModel(config, load_text_weights=False)
    prefix = "audio_encoder."
    encoder_state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    model.audio_encoder.load_state_dict(encoder_state, strict=True)
    model.audio_encoder.round_to_bf16_()
    heads = {"audio_projection": model.audio_projection, "text_projection": model.text_projection}
    for name, head in heads.items():
        head.load_state_dict({k[len(name) + 1 :]: v for k, v in state.items() if k.startswith(name + ".")})
        round_linears_(head)
    rounded = {f"{prefix}{k}": v for k, v in model.audio_encoder.state_dict().items()}
    for name, head in heads.items():
        rounded.update({f"{name}.{k}": v for k, v in head.state_dict().items()})
    missing = set(rounded) - set(state)
    if missing:
        raise CheckpointError(f"{path}: the model has tensors the file lacks: {sorted(missing)[:5]}")
    state.update({k: v.detach().contiguous().clone() for k, v in rounded.items()})
    meta["bf16_exact"] = True
    metadata = {"openclap": json.dumps(meta)}
    atomic_write(out, lambda tmp: save_file(state, str(tmp), metadata=metadata))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB), bf16-exact")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", type=Path, help="an openclap .safetensors with a YAMNet audio tower")
    parser.add_argument("--out", type=Path, required=True, help="the .safetensors file to write")
    args = parser.parse_args()
    if not args.checkpoint.is_file():
        parser.error(f"{args.checkpoint}: no such file")
    if args.out.suffix != ".safetensors":
        parser.error(f"--out {args.out}: give a .safetensors file name")
    try:
        bf16_exact(args.checkpoint, args.out)
    except (CheckpointError, ValueError, RuntimeError) as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
