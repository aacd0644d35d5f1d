"""``openclap export onnx NAME_OR_CHECKPOINT --out DIR``: the CLI front of ``openclap.export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def cmd_export_onnx(args: argparse.Namespace) -> int:
    from openclap.export.onnx import export_onnx
    from openclap.factory import create_model, has_trained_weights

    source = Path(args.model).expanduser()
    if source.exists():
        model = create_model(args.config, checkpoint=source, tokenizer=args.tokenizer)
    else:
        model = create_model(args.model, tokenizer=args.tokenizer)
        if not has_trained_weights(model.config.name):
            print(
                f"warning: model {model.config.name!r} has no trained weights shipped with this install; "
                "exporting freshly initialised weights",
                file=sys.stderr,
            )
    out = export_onnx(model, args.out, int8=not args.no_int8)
    files = sorted(p.name for p in out.iterdir())
    print(f"exported {model.config.name} -> {out} ({', '.join(files)})", file=sys.stderr)
    return 0


def register_cli(sub: Any) -> None:
    """Add ``export`` (with its ``onnx`` format) to the ``openclap`` subparsers."""
    parser = sub.add_parser(
        "export",
        help="export a model for other runtimes (ONNX)",
        description="Export a model's towers for runtimes other than torch. See docs/speed.md.",
    )
    formats = parser.add_subparsers(dest="format", required=True)
    p = formats.add_parser(
        "onnx",
        help="write audio.onnx, text.onnx (+ int8 variants), the tokenizer and openclap-onnx.json",
        description="Write the audio tower (log-mel front end included, as matrix products; dynamic batch, "
        "and dynamic length for CNN encoders) and the text tower as ONNX graphs, their int8 variants "
        "(onnxruntime dynamic quantization), the tokenizer files and openclap-onnx.json (inputs, "
        "outputs, clip length, tokenizer settings) into --out. Run them with "
        "openclap.export.OnnxClap or any ONNX runtime.",
    )
    p.add_argument(
        "model", help="registered model name, or an openclap / published checkpoint (file or folder)"
    )
    p.add_argument(
        "--out", required=True, help="output folder (created; an earlier export there is replaced)"
    )
    p.add_argument("--config", default=None, help="model name or JSON config overriding a checkpoint's own")
    p.add_argument("--tokenizer", default=None, help="local tokenizer folder (gpt2 / roberta-base models)")
    p.add_argument("--no-int8", action="store_true", help="skip the int8 graphs")
    p.set_defaults(func=cmd_export_onnx)
