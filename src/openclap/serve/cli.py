"""``openclap serve``: parse options, load the model and the index, run uvicorn (registered by the CLI)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Callable
from typing import Any

from openclap.index.cli import add_compile_arg, add_precision_arg, resolve_precision
from openclap.registry import DEFAULT_MODEL
from openclap.serve.limits import ServeLimits


def register_cli(sub: Any, load_model: Callable[[argparse.Namespace], Any]) -> None:
    """Add ``serve`` to the ``openclap`` subparsers; ``load_model(args)`` builds --model / --checkpoint."""
    p = sub.add_parser(
        "serve",
        help="serve search, classify and embed over HTTP, with a web page",
        description="Serve an HTTP API (/search, /classify, /embed/text, /embed/audio, /audio/ID, "
        "/health; OpenAPI at /openapi.json) and a web page at / for searching an index by text or "
        "example and classifying dropped clips. Without --index only /classify and /embed/* work.",
    )
    p.add_argument("--index", default=None, help="index folder made by `openclap index build`")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine)"
    )
    p.add_argument("--port", type=_port, default=8000, help="port (default: 8000)")
    p.add_argument(
        "--model",
        default=None,
        help=f"registered model name (default: the index's model, or {DEFAULT_MODEL} without --index)",
    )
    p.add_argument("--checkpoint", default=None, help="openclap checkpoint folder or .safetensors file")
    p.add_argument("--tokenizer", default=None, help="local tokenizer folder, for published models")
    p.add_argument("--device", default="cpu", help="torch device: cpu (default), cuda, cuda:N, mps, or auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    add_precision_arg(p, "default: the index's, fp32 without --index")
    add_compile_arg(p)  # compiled and warmed up before the server listens
    defaults = ServeLimits()
    p.add_argument(
        "--max-upload-mb",
        type=_positive(float),
        default=defaults.max_upload_bytes / 2**20,
        help="largest request body in MiB (default: %(default)g)",
    )
    p.add_argument(
        "--max-audio-seconds",
        type=_positive(float),
        default=defaults.max_audio_seconds,
        help="longest uploaded clip in seconds (default: %(default)g)",
    )
    p.add_argument(
        "--max-labels",
        type=_positive(int),
        default=defaults.max_labels,
        help="labels per /classify (default: %(default)d)",
    )
    p.add_argument(
        "--request-timeout",
        type=_positive(float),
        default=defaults.request_timeout_seconds,
        help="seconds a request may wait for and use the model (default: %(default)g)",
    )
    p.set_defaults(func=lambda args: cmd_serve(args, load_model))


def cmd_serve(args: argparse.Namespace, load_model: Callable[[argparse.Namespace], Any]) -> int:
    from openclap.serve.app import create_app
    from openclap.serve.server import make_server

    limits = ServeLimits(
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_audio_seconds=args.max_audio_seconds,
        max_labels=args.max_labels,
        request_timeout_seconds=args.request_timeout,
    )
    model, index = _open(args, load_model)
    if args.compile:
        compile_and_warm(model)
    if not _is_loopback(args.host):
        print(
            f"warning: listening on {args.host}: anyone who can reach it can use the server", file=sys.stderr
        )
    app = create_app(model, index, limits, index_path=args.index or "")
    make_server(app, args.host, args.port, limits.header_timeout_seconds, "info").run()
    return 0


def _open(args: argparse.Namespace, load_model: Callable[[argparse.Namespace], Any]) -> tuple[Any, Any]:
    """The model (in --precision, else the index's) and the index (None without --index)."""
    if args.index is None:
        resolve_precision(args, None)
        return load_model(args), None
    from openclap.index import SoundIndex

    model = None
    if args.model or args.checkpoint:
        resolve_precision(args, args.index)
        model = load_model(args)
    index = SoundIndex.open(args.index, model=model, device=args.device, precision=args.precision)
    return index.model, index


def compile_and_warm(model: Any) -> None:
    """``compile_towers`` (unless done), then one batch of 1 clip and one of 2 (every later batch size
    shares the second's graph), so that no request waits for a compilation."""
    import torch

    if not model.compiled:
        model.compile_towers()
    silence = torch.zeros(model.config.audio.clip_samples)
    print("compiling the audio path (once; inductor caches its kernels on disk) ...", file=sys.stderr)
    with torch.inference_mode():
        for n in (1, 2):
            model.encode_audio(model.prepare_waveforms([silence] * n).to(model.logit_scale.device))


def _positive(kind: Callable[[str], float]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in "invalid int value" messages
    return parse


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be 1-65535, got {port}")
    return port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
