"""``openclap train --config run.yaml [--resume] [--set key=value ...]``.

``train_command`` is the argparse-free entry point; ``register_cli(subparsers)`` adds the subcommand to
the ``openclap`` parser. ``python -m openclap.train.cli --config run.yaml`` runs it standalone (handy
under ``torchrun``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_NON_FINITE = 3


def train_command(config: str, resume: bool = False, overrides: Sequence[str] = ()) -> int:
    """Load the YAML run config, apply ``overrides`` and train; 3 when the loss became non-finite."""
    from openclap.cli_errors import require_modules
    from openclap.distributed import env_info
    from openclap.train.config import load_train_config
    from openclap.train.loop import NonFiniteLossError
    from openclap.train.runner import train

    run = load_train_config(config, list(overrides))
    if run.plot:  # checked before training, not when the curves are drawn at the end
        require_modules(["matplotlib"], "plotting training curves (plot: true)", extra="train")
    for key in ("train_manifest", "val_manifest", "zero_shot_manifest"):  # before the model is built
        manifest = getattr(run.data, key)
        if manifest is not None and not Path(manifest).is_file():
            raise FileNotFoundError(f"{manifest}: manifest not found (data.{key})")
    try:
        result = train(run, resume=resume)
    except NonFiniteLossError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_NON_FINITE
    if env_info().is_main:
        best = "none" if result.best_value is None else f"{result.best_value:.4f} at step {result.best_step}"
        print(f"trained {result.steps} steps; final weights in {result.final_checkpoint}")
        print(f"best {result.best_metric}: {best}")
        for key, value in sorted(result.metrics.items()):
            print(f"  {key}: {value:.4f}")
    return 0


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML run file (see recipes/shared_data/run.yaml)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in output_dir (weights, optimiser, schedule, RNG and "
        "data position), reaching the same weights as an uninterrupted run",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set max_steps=100 --set optim.lr=3e-4 (repeatable)",
    )


def register_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``train`` to the ``openclap`` subcommands."""
    parser = subparsers.add_parser(
        "train",
        help="train or fine-tune a CLAP model from a YAML run config",
        description="Contrastive training of a CLAP model on an audio-caption manifest or WebDataset "
        "shards: AdamW with warm-up + cosine, gradient accumulation and clipping, bf16/fp16, tower "
        "freezing, augmentation, periodic evaluation (retrieval R@k, zero-shot accuracy), best-checkpoint "
        "selection, CSV/JSONL/TensorBoard logs and atomic resumable checkpoints in output_dir. "
        "For several processes or machines run the same command under `torchrun --nproc_per_node=N`.",
    )
    _add_arguments(parser)
    parser.set_defaults(func=lambda a: train_command(a.config, a.resume, a.set))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from openclap.cli_errors import run_command

    parser = argparse.ArgumentParser(prog="python -m openclap.train.cli", description="openclap train")
    _add_arguments(parser)
    args = parser.parse_args(argv)
    return run_command(lambda a: train_command(a.config, a.resume, a.set), args)


if __name__ == "__main__":
    sys.exit(main())
