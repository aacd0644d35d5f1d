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
from safetensors.torch import save_file

from openclap import create_model
from openclap.atomic import atomic_write
from openclap.checkpoint import CheckpointError, read_config, read_metadata
from openclap.cli_errors import check_output_path


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
    model = create_model(checkpoint=path, text=False)  # a strict load: every tensor of the file, by name
    model.audio_encoder.round_to_bf16_()
    round_linears_(model.audio_projection)
    round_linears_(model.text_projection)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
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
        check_output_path(args.out)  # before the work
    except ValueError as err:
        parser.error(str(err))
    try:
        bf16_exact(args.checkpoint, args.out)
    except (CheckpointError, ValueError, RuntimeError, OSError) as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
