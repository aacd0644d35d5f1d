"""``openclap eval`` and ``openclap bench`` subcommands (registered by ``openclap.cli``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openclap.eval.embedding import EmbedOptions


def _embed_options(args: argparse.Namespace, model: Any, quiet: bool) -> EmbedOptions:
    from openclap.eval.cache import model_identity
    from openclap.eval.embedding import EmbedOptions
    from openclap.factory import bundled_weights

    weights = args.checkpoint or bundled_weights(model.config.name)
    use_cache = args.cache_dir is not None and weights is not None  # random weights differ per run
    return EmbedOptions(
        batch_size=args.batch_size,
        long_audio=args.long_audio,
        progress=not quiet,
        workers=args.workers,
        cache_dir=Path(args.cache_dir) if use_cache else None,
        model_id=model_identity(model.config.name, weights) + _run_suffix(model) if use_cache else None,
    )


def _run_suffix(model: Any) -> str:
    """What besides the weights changes the numbers: bf16 and compiled runs get caches of their own
    (an fp32 eager run keeps the plain identity, so caches written before stay valid)."""
    parts = [model.precision] if model.precision != "fp32" else []
    return "".join(f"|{part}" for part in parts + (["compiled"] if model.compiled else []))


NEEDS_SKLEARN = ("linear-probe", "finetune")  # their splits and the probe use scikit-learn


def _list_datasets_in_help(parser: argparse.ArgumentParser) -> None:
    """Append the dataset names and the generic CSV adapter's columns and options to ``--help``, imported
    only when help is shown (so that building the ``openclap`` parser stays cheap)."""
    plain_help = parser.format_help
    base = parser.description or ""

    def format_help() -> str:
        from openclap.eval.datasets import list_datasets
        from openclap.eval.datasets.generic import CSV_HELP

        parser.description = f"{base} Datasets: {', '.join(list_datasets())}. {CSV_HELP}"
        return plain_help()

    parser.format_help = format_help  # type: ignore[method-assign]


def register_cli(
    sub: Any, add_model_args: Callable[[argparse.ArgumentParser], None], load_model: Callable[..., Any]
) -> None:
    """Add ``eval`` and ``bench`` to the ``openclap`` subparsers."""

    def cmd_eval(args: argparse.Namespace) -> int:
        from openclap.cli_errors import require_modules
        from openclap.eval import get_dataset, run_eval
        from openclap.eval.bench import check_protocol_options, parse_options
        from openclap.eval.report import markdown_table, to_json

        # Options, packages and the dataset's files are all checked before the model loads.
        options = parse_options(args.option)
        check_protocol_options(args.protocol, options)
        if args.protocol in NEEDS_SKLEARN:
            require_modules(["sklearn"], f"openclap eval {args.protocol}")
        dataset_options = parse_options(args.dataset_option)
        if args.folds:
            dataset_options["folds"] = args.folds
        dataset = get_dataset(args.dataset, args.root, **dataset_options)
        model = load_model(args)
        embed = _embed_options(args, model, quiet=args.quiet or args.json)
        result = run_eval(model, args.protocol, dataset, embed=embed, **options)
        print(to_json(result) if args.json else markdown_table([result]))
        return 0

    def cmd_bench(args: argparse.Namespace) -> int:
        from openclap.cli_errors import check_output_path, require_modules
        from openclap.eval import load_suite, run_suite

        suite = load_suite(args.suite)  # checked before the model loads
        require_modules(["matplotlib"], "openclap bench (its plots)")
        if any(task.protocol in NEEDS_SKLEARN for task in suite.tasks):
            require_modules(["sklearn"], "openclap bench (linear-probe / finetune tasks)")
        check_output_path(Path(args.out) / "results.json", "--out")
        model = load_model(args)
        run = run_suite(
            args.suite,
            model,
            args.out,
            model_name=args.checkpoint or model.config.name,
            embed=_embed_options(args, model, quiet=args.quiet),
        )
        print(run.markdown.read_text())
        return 1 if run.failed else 0

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
    _list_datasets_in_help(p)
    p.add_argument(
        "protocol", choices=["zeroshot", "retrieval", "linear-probe", "finetune"], help="evaluation protocol"
    )
    p.add_argument(
        "--dataset", required=True, help="dataset adapter name, e.g. esc50, fsdd, audiocaps, csv (see below)"
    )
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
        "encoder_lr, batch_size, gain_db, freeze_encoder_layers, freeze_batchnorm, head_input, ...); "
        "repeatable",
    )
    p.add_argument(
        "-d",
        "--dataset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset option: min_class_count, or one the adapter takes (allow_missing, splits, name, "
        "label_column, ...; an unknown one lists them); repeatable",
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
