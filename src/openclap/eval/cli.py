"""``openclap eval`` and ``openclap bench`` subcommands (registered by ``openclap.cli``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openclap.eval.embedding import EmbedOptions


def _embed_options(args: argparse.Namespace, model: Any, quiet: bool) -> EmbedOptions:
    from openclap.eval.cache import model_identity
    from openclap.factory import bundled_weights

    weights = args.checkpoint or bundled_weights(model.config.name)
    use_cache = args.cache_dir is not None and weights is not None  # random weights differ per run
    return EmbedOptions(
        batch_size=args.batch_size,
        long_audio=args.long_audio,
        progress=not quiet,
        workers=args.workers,
        cache_dir=Path(args.cache_dir) if use_cache else None,
        model_id=model_identity(model.config.name, weights) if use_cache else None,
    )


def register_cli(
    sub: Any, add_model_args: Callable[[argparse.ArgumentParser], None], load_model: Callable[..., Any]
) -> None:
    """Add ``eval`` and ``bench`` to the ``openclap`` subparsers."""

    def cmd_eval(args: argparse.Namespace) -> int:
        from openclap.eval import run_eval
        from openclap.eval.bench import parse_options
        from openclap.eval.report import markdown_table, to_json

        model = load_model(args)
        dataset_options = parse_options(args.dataset_option)
        if args.folds:
            dataset_options["folds"] = args.folds
        result = run_eval(
            model,
            args.protocol,
            args.dataset,
            args.root,
            _embed_options(args, model, quiet=args.quiet or args.json),
            dataset_options=dataset_options,
            **parse_options(args.option),
        )
        print(to_json(result) if args.json else markdown_table([result]))
        return 0

    def cmd_bench(args: argparse.Namespace) -> int:
        from openclap.eval import run_suite

        model = load_model(args)
        out = run_suite(
            args.suite,
            model,
            args.out,
            model_name=args.checkpoint or model.config.name,
            embed=_embed_options(args, model, quiet=args.quiet),
        )
        print(Path(out["markdown"]).read_text())
        return 1 if out["failed"] else 0

    p = sub.add_parser(
        "eval",
        help="evaluate a model on one benchmark (zero-shot, retrieval, linear probe, fine-tuning)",
        description="Run one evaluation protocol on one dataset read from its official layout under --root "
        "(see `openclap.eval.list_datasets()`). Prints a Markdown row, or JSON with --json. "
        "Example: openclap eval zeroshot --dataset esc50 --root ../shared/data/esc50-fold4. "
        "finetune trains a copy of the audio tower with a classification head on each split "
        "(-o epochs=5 -o lr=1e-3 -o encoder_lr=1e-4 -o batch_size=32); --batch-size is the evaluation "
        "batch there.",
    )
    p.add_argument(
        "protocol", choices=["zeroshot", "retrieval", "linear-probe", "finetune"], help="evaluation protocol"
    )
    p.add_argument("--dataset", required=True, help="dataset adapter name, e.g. esc50, fsdd, audiocaps")
    p.add_argument("--root", required=True, help="local folder holding the dataset in its official layout")
    p.add_argument("--folds", nargs="+", help="restrict to these folds / splits")
    p.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="protocol option (templates: a list, or 'model' for the model's own prompts; split, "
        "group_key, n_splits, seed, c_grid; finetune: epochs, lr, "
        "encoder_lr, batch_size, gain_db, freeze_encoder_layers, head_input, ...); repeatable",
    )
    p.add_argument(
        "-d",
        "--dataset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset option (min_class_count, allow_missing, splits); repeatable",
    )
    p.add_argument("--cache-dir", help="embedding cache folder (used only with trained weights)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_model_args(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "bench",
        help="run a benchmark suite and write a Markdown + JSON table and plots",
        description="Run every task of a suite YAML (see benchmarks/suite_shared.yaml) and write "
        "results.md, results.json and plots/ (confusion matrices, per-class accuracy, recall@k) to --out.",
    )
    p.add_argument("--suite", required=True, help="suite YAML file")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--cache-dir", help="embedding cache folder (used only with trained weights)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_model_args(p)
    p.set_defaults(func=cmd_bench)
