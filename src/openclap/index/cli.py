"""``openclap index build|update`` and ``openclap search`` (registered by ``openclap.cli``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

from openclap.cli_errors import positive_int
from openclap.registry import DEFAULT_MODEL


def _model_args(parser: argparse.ArgumentParser, default_note: str, precision_note: str) -> None:
    parser.add_argument(
        "--model", default=None, help=f"registered model name or JSON config ({default_note})"
    )
    parser.add_argument("--checkpoint", default=None, help="openclap checkpoint folder or .safetensors file")
    parser.add_argument("--tokenizer", default=None, help="local folder with the text tokenizer files")
    parser.add_argument(
        "--device", default="cpu", help="torch device: cpu (default), cuda, cuda:N, mps, auto"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    add_precision_arg(parser, precision_note)
    add_compile_arg(parser)


def add_compile_arg(parser: argparse.ArgumentParser) -> None:
    """``--compile`` (``create_model(..., compile=True)``); used by embed, classify and index too."""
    parser.add_argument(
        "--compile",
        action="store_true",
        help="compiled audio path: on a CPU a package built once per model, precision and machine "
        "(15-60 s, cached in ~/.cache/openclap/compiled) and loaded in milliseconds later; the default "
        "model then embeds ~1.6x faster (see docs/speed.md); needs a C++ compiler on a CPU",
    )


def add_precision_arg(parser: argparse.ArgumentParser, default_note: str) -> None:
    """``--precision`` (default None: resolved by ``resolve_precision``); also used by ``openclap serve``."""
    parser.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default=None,
        help="inference precision: fp32 or bf16 (autocast of the encoders on cpu/cuda; see docs/speed.md); "
        f"{default_note}; an index records the precision it was built in and refuses another",
    )


def resolve_precision(args: argparse.Namespace, index: str | None) -> None:
    """Fill in ``args.precision`` left out: the precision the index at ``index`` records, else fp32."""
    if args.precision is None:
        from openclap.index import index_precision

        args.precision = (index_precision(index) if index is not None else None) or "fp32"


def _embed_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch-size", type=positive_int, default=16, help="windows per forward pass (default: 16)"
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="audio files decoded at once, in threads (default: the machine's cores, at most 8); a CPU "
        "model whose batches run side by side (the default model's: one per torch thread) decodes in those "
        "threads instead",
    )
    parser.add_argument(
        "--commit-every",
        type=positive_int,
        default=32,
        help="files embedded between two commits: an interrupted run redoes at most this many (default: 32)",
    )
    parser.add_argument(
        "--kind",
        choices=["auto", "exact", "ivf"],
        default="auto",
        help="vector index: exact search, an IVF index, or auto (exact up to 30,000 windows; default)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _options(args: argparse.Namespace) -> Any:
    from openclap.index import BuildOptions

    return BuildOptions(
        batch_size=args.batch_size,
        workers=args.workers,
        commit_every=args.commit_every,
        kind=args.kind,
        progress=not args.quiet,
    )


def _print_report(report: Any) -> None:
    for path, problem in report.errors:
        print(f"skipped {path}: {problem.removeprefix(path + ': ')}", file=sys.stderr)
    for path in report.changed:
        print(
            f"skipped {path}: the file changed while it was being indexed; run `openclap index update` again",
            file=sys.stderr,
        )
    print(report.summary(), file=sys.stderr)


def _absolute_prefix(prefix: str | None) -> str | None:
    """A relative --prefix made absolute (indexed paths are), keeping a trailing slash."""
    if prefix is None or os.path.isabs(prefix):
        return prefix
    return os.path.abspath(prefix) + ("/" if prefix.endswith("/") else "")


def _distributed(args: argparse.Namespace) -> Any:
    """Join the torchrun process group when launched by torchrun; the rank's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from openclap import distributed

    info, device = distributed.init_distributed(args.device)
    args.device = str(device)
    return info


def _quiet_model_loading() -> None:
    """The index rebuilds its recorded model itself (not through the CLI's loader): keep transformers'
    per-load "Loading weights" bar off stderr there too."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


WriterLoader = Callable[[argparse.Namespace], tuple[Any, str | None]]  # (model, its fingerprint or None)


def _run_writer(
    args: argparse.Namespace,
    load_model: WriterLoader,
    work: Callable[[Any, str | None], Any],
    index: str,
) -> int:
    """Load the model (build: always; update: when named, by the user or by ``_name_recorded_model``; in
    the precision given, else the index's), run ``work(model, fingerprint)``, report on rank 0."""
    info = _distributed(args)
    try:
        named = args.model or args.checkpoint or args.command_index == "build"
        if named:
            resolve_precision(args, index)
        else:
            _quiet_model_loading()  # the index loads its recorded model itself
        model, fingerprint = load_model(args) if named else (None, None)
        report = work(model, fingerprint)
    finally:
        if info is not None:
            from openclap import distributed

            distributed.shutdown()
    if info is None or info.is_main:
        _print_report(report)
    return 0


def _name_recorded_model(args: argparse.Namespace, index: str) -> None:
    """Without --model / --checkpoint, name the index's own model (its bundled name or checkpoint) in
    ``args`` when it can be loaded again, so the CLI's loader builds it (audio-only where its files were
    fingerprinted before); otherwise leave ``args`` as they are (the index then explains)."""
    from openclap.index.build import recorded_source

    if not (args.model or args.checkpoint):
        source = recorded_source(index)
        if source is not None:
            args.model, args.checkpoint = source


def _cmd_build(args: argparse.Namespace, load_model: WriterLoader) -> int:
    from openclap.index import build_index

    def work(model: Any, fingerprint: str | None) -> Any:
        return build_index(
            args.paths, args.out, model, checkpoint=args.checkpoint, hop_seconds=args.hop_seconds,
            options=_options(args), fingerprint=fingerprint,
        )  # fmt: skip

    return _run_writer(args, load_model, work, args.out)


def _cmd_update(args: argparse.Namespace, load_model: WriterLoader) -> int:
    from openclap.index import update_index

    _name_recorded_model(args, args.index)

    def work(model: Any, fingerprint: str | None) -> Any:
        return update_index(
            args.index, model, options=_options(args), device=args.device, precision=args.precision,
            fingerprint=fingerprint,
        )  # fmt: skip

    return _run_writer(args, load_model, work, args.index)


def register_cli(
    sub: Any, load_model: Callable[[argparse.Namespace], Any], load_writer_model: WriterLoader
) -> None:
    """Add ``index`` (build, update) and ``search`` to the ``openclap`` subparsers. ``load_model``: the
    model the options name (text search); ``load_writer_model``: the same for build, update and search
    by example, with its fingerprint, loaded without its text tower (which they do not use) when its
    files were fingerprinted before."""
    index = sub.add_parser(
        "index",
        help="build or update a searchable index of a sound collection",
        description="Embed a folder tree into an index folder (FAISS vectors + SQLite metadata) that "
        "`openclap search` queries. Long files are indexed as clip-length windows with "
        "their start / end times. Updates embed only new or changed files (by content hash) and drop "
        "removed ones; an interrupted run resumes. Run under `torchrun --nproc_per_node=N` to shard the "
        "embedding over processes (rank 0 merges the parts).",
    )
    verbs = index.add_subparsers(dest="command_index", required=True)
    p = verbs.add_parser(
        "build",
        help="index the audio files under folders",
        description=(
            "Index the audio files under DIR... into the folder --out. Bad files are reported on stderr and "
            "skipped. Building into an existing index of the same model continues it."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="DIR", help="folders (searched recursively) or audio files")
    p.add_argument("--out", required=True, help="index folder to create (or continue)")
    p.add_argument(
        "--hop-seconds",
        type=float,
        default=None,
        help="start a window every this many seconds (default: the model's clip length)",
    )
    _model_args(p, f"default: {DEFAULT_MODEL}", "default: fp32, or the index's when continuing one")
    _embed_args(p)
    p.set_defaults(func=partial(_cmd_build, load_model=load_writer_model))

    p = verbs.add_parser(
        "update",
        help="embed new and changed files, drop removed ones",
        description=(
            "Rescan an index's folders: embed new files and files whose content changed, drop removed "
            "ones, and rebuild the vector index. With nothing changed nothing is embedded."
        ),
    )
    p.add_argument("index", help="index folder")
    _model_args(p, "default: the model the index records", "default: the index's")
    _embed_args(p)
    p.set_defaults(func=partial(_cmd_update, load_model=load_writer_model))
    _register_search(sub, load_model, load_writer_model)


def _register_search(
    sub: Any, load_model: Callable[[argparse.Namespace], Any], load_audio_model: WriterLoader
) -> None:
    def cmd_search(args: argparse.Namespace) -> int:
        from openclap.index import SoundIndex, SoundIndexError

        if (args.query is None) == (args.like is None):
            raise SoundIndexError("give either a text QUERY or --like FILE (not both)")
        if args.top_k < 1:
            raise SoundIndexError(f"--top-k must be at least 1, got {args.top_k}")
        if args.like is not None:  # audio only: the index's own model through the indexing loader
            _name_recorded_model(args, args.index)
        model, fingerprint = None, None
        if args.model or args.checkpoint:
            resolve_precision(args, args.index)
            model, fingerprint = load_audio_model(args) if args.like is not None else (load_model(args), None)
        else:
            _quiet_model_loading()  # the index loads its recorded model itself
        opened = SoundIndex.open(
            args.index, model, device=args.device, precision=args.precision, fingerprint=fingerprint
        )
        with opened as index:
            if index.stale:
                print(
                    f"warning: {args.index} is being updated or an update was interrupted; results may "
                    "miss files until `openclap index update` finishes",
                    file=sys.stderr,
                )
            prefix = _absolute_prefix(args.prefix)
            if args.query is not None:
                hits = index.search_text(args.query, args.top_k, prefix)
            else:
                hits = index.search_file(args.like, args.top_k, prefix)
        if args.json:
            print(json.dumps([{"rank": r, **vars(hit)} for r, hit in enumerate(hits, start=1)], indent=2))
        else:
            for r, hit in enumerate(hits, start=1):
                print(f"{r:3d}  {hit.score:.4f}  {hit.path}  {hit.start_seconds:.2f}-{hit.end_seconds:.2f} s")
        return 0

    p = sub.add_parser(
        "search",
        help="search an index by text or by an example clip",
        description="Rank an index's windows by cosine similarity to a text QUERY or to an example audio "
        "file (--like). Prints rank, score, file and window times, or JSON with --json. The index's own "
        "model is loaded, in its precision; --model / --checkpoint must name that same model.",
    )
    p.add_argument("index", help="index folder made by `openclap index build`")
    p.add_argument("query", nargs="?", default=None, help='text query, e.g. "a dog barking"')
    p.add_argument("--like", default=None, metavar="FILE", help="search by an example audio file instead")
    p.add_argument("--top-k", type=int, default=10, help="hits to show (default: 10)")
    p.add_argument(
        "--prefix",
        default=None,
        metavar="PATH_PREFIX",
        help="only files whose absolute indexed path starts with this (a relative one is made absolute)",
    )
    p.add_argument("--json", action="store_true", help="print the hits as JSON on stdout")
    _model_args(p, "default: the model the index records", "default: the index's")
    p.set_defaults(func=cmd_search)
