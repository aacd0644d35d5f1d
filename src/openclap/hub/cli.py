"""``openclap pull NAME``, and the published-model rows of ``openclap models``."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def cmd_pull(args: argparse.Namespace) -> int:
    from openclap.hub.pretrained import pull
    from openclap.hub.registry import list_pretrained

    names = list_pretrained() if args.all else args.names
    if not names:
        print("error: name a published model (see `openclap models`) or pass --all", file=sys.stderr)
        return 2
    for name in names:
        folder = pull(name, force=args.force)
        print(f"{name}: {folder}", file=sys.stderr)
    return 0


def published_rows() -> list[str]:
    """One line per published model: name, on this machine or not, source, checksum status."""
    from openclap.hub.pretrained import is_on_machine
    from openclap.hub.registry import load_registry

    rows = []
    for name, entry in sorted(load_registry().items()):
        weights = entry.weights_file
        status = "on this machine" if is_on_machine(entry) else "not downloaded"
        checksum = "sha256 published" if weights.sha256 else "sha256 unverified"
        where = f"{entry.repo or 'url'}: {weights.name}"
        rows.append(f"{name:36s} {status:15s} {entry.family:7s} {where}  {checksum}")
    return rows


def register_cli(sub: Any) -> None:
    p = sub.add_parser(
        "pull",
        help="download, verify and convert a published model",
        description="Fetch a published model's files (Hugging Face cache under HF_HOME; HF_ENDPOINT and "
        "HF_HUB_OFFLINE are honoured), check their size and sha256, convert them once to an openclap "
        "checkpoint kept in the cache ($OPENCLAP_CACHE, default $HF_HOME/openclap). Later runs of "
        "--model NAME load that checkpoint without network. `openclap models` lists the names.",
    )
    p.add_argument("names", nargs="*", help="published model names (msclap-2023, laion/clap-htsat-unfused)")
    p.add_argument("--all", action="store_true", help="every published model (many GB)")
    p.add_argument("--force", action="store_true", help="fetch and convert again even if cached")
    p.set_defaults(func=cmd_pull)
