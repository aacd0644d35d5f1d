"""``openclap data check | shard | build``: argparse-free functions plus ``register_cli(subparsers)``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openclap.data.manifest import ManifestEntry


def data_check(
    manifest: str,
    min_seconds: float = 0.1,
    decode: bool = True,
    report: str | None = None,
    quiet: bool = False,
) -> int:
    """Print a summary and every problem; exit code 1 when any clip is missing, corrupt or too short."""
    from openclap.atomic import atomic_write
    from openclap.cli_errors import check_output_path
    from openclap.data.manifest import check_manifest

    if report:
        check_output_path(report, "--report")  # before decoding every clip
    result = check_manifest(manifest, min_seconds=min_seconds, decode=decode, progress=not quiet)
    for kind, path, message in result.problems():
        print(f"{kind}: {path}: {message}", file=sys.stderr)
    print(result.summary())
    if report:
        rows = [{"kind": k, "audio": p, "problem": m} for k, p, m in result.problems()]
        atomic_write(Path(report), lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in rows)))
    return 0 if result.ok else 1


def data_shard(
    manifest: str,
    out_dir: str,
    samples_per_shard: int = 1000,
    sample_rate: int | None = None,
    split: str | None = None,
    quiet: bool = False,
) -> int:
    """Write WebDataset shards (FLAC + JSON) and index.json; report skipped clips on stderr."""
    from openclap.data.manifest import read_manifest
    from openclap.data.shards import write_shards

    entries = read_manifest(manifest, split=split)
    index = write_shards(entries, out_dir, samples_per_shard, sample_rate, progress=not quiet)
    for path, problem in index.skipped:
        print(f"skipped {path}: {problem}", file=sys.stderr)
    print(
        f"wrote {index.total} clips in {len(index.shards)} shards to {out_dir} ({len(index.skipped)} skipped)"
    )
    return 0


def data_build(
    out: str,
    datasets: Sequence[str] = (),
    metadata: str | None = None,
    templates: Sequence[str] = (),
    label_columns: Sequence[str] = (),
    audio_column: str = "filename",
    group_column: str | None = None,
    split_column: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    source: str | None = None,
    license: str | None = None,
) -> int:
    """Build one manifest from presets (``NAME=FOLDER``) and/or a generic metadata CSV with templates."""
    from openclap.data.builders import PRESETS, TableSpec, build_from_table, build_preset
    from openclap.data.manifest import write_manifest

    entries: list[ManifestEntry] = []
    for item in datasets:
        name, sep, folder = item.partition("=")
        if not sep:
            raise ValueError(f"--dataset expects NAME=FOLDER, got {item!r}; names: {sorted(PRESETS)}")
        entries += build_preset(name, folder)
    if metadata:
        if not templates:
            raise ValueError("--metadata needs at least one --template, e.g. 'the sound of a {category}'")
        spec = TableSpec(
            templates=list(templates),
            audio_column=audio_column,
            label_columns=list(label_columns),
            split_column=split_column,
            group_column=group_column,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            source=source,
            license=license,
        )
        entries += build_from_table(metadata, spec)
    if not entries:
        raise ValueError("nothing to build: give --dataset NAME=FOLDER and/or --metadata CSV")
    write_manifest(entries, out)
    splits: dict[str, int] = {}
    for entry in entries:
        splits[entry.split or "(none)"] = splits.get(entry.split or "(none)", 0) + 1
    print(f"wrote {len(entries)} clips to {out}; splits {dict(sorted(splits.items()))}")
    return 0


def _add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="report missing, corrupt and too-short clips of a manifest",
        description="Read a CSV/JSONL manifest, decode every clip and report missing, corrupt, too-short "
        "and duplicated files (one line each on stderr) and a summary. Exit code 1 when any is found.",
    )
    p.add_argument("manifest", help="manifest .csv or .jsonl (fields: audio, captions, labels, split, ...)")
    p.add_argument("--min-seconds", type=float, default=0.1, help="shortest usable clip (default: 0.1)")
    p.add_argument("--quick", action="store_true", help="read file headers only instead of decoding")
    p.add_argument("--report", default=None, help="also write the problems as JSONL to this file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(
        func=lambda a: data_check(a.manifest, a.min_seconds, not a.quick, a.report, a.quiet),
    )


def _add_shard(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "shard",
        help="pack a manifest into WebDataset tar shards (FLAC + JSON)",
        description="Decode every clip once (optionally resampling it), and write tar shards holding "
        "KEY.flac (16-bit mono) and KEY.json (captions, labels, split, source, license) plus an index.json "
        "with per-shard counts. Clips that cannot be decoded are skipped and listed.",
    )
    p.add_argument("manifest", help="manifest .csv or .jsonl")
    p.add_argument("out_dir", help="output folder for shard-NNNNNN.tar and index.json")
    p.add_argument("--samples-per-shard", type=int, default=1000, help="clips per shard (default: 1000)")
    p.add_argument("--sample-rate", type=int, default=None, help="resample to this rate (default: keep)")
    p.add_argument("--split", default=None, help="only clips of this split (default: all)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(
        func=lambda a: data_shard(
            a.manifest, a.out_dir, a.samples_per_shard, a.sample_rate, a.split, a.quiet
        ),
    )


def _add_build(sub: argparse._SubParsersAction) -> None:
    from openclap.data.builders import PRESETS  # for the help text; builders is torch-free

    p = sub.add_parser(
        "build",
        help="build a caption manifest from labelled datasets with templates",
        description="Turn labelled datasets into an audio-caption manifest. Presets: "
        + ", ".join(sorted(PRESETS))
        + " (e.g. --dataset philharmonia=../shared/data/philharmonia). Any metadata CSV works with "
        "--metadata and caption --template strings over its columns ('a {instrument} playing {note}'); "
        "templates whose columns are empty for a row are skipped. Splits are held out by --group-column.",
    )
    p.add_argument("--out", required=True, help="output manifest .jsonl or .csv")
    p.add_argument("--dataset", action="append", default=[], help="NAME=FOLDER of a preset (repeatable)")
    p.add_argument("--metadata", default=None, help="a metadata CSV; audio paths relative to its folder")
    p.add_argument("--template", action="append", default=[], help="caption template (repeatable)")
    p.add_argument("--label-column", action="append", default=[], help="column copied into labels")
    p.add_argument("--audio-column", default="filename", help="column with the audio path")
    p.add_argument("--group-column", default=None, help="hold out splits by this column (e.g. speaker)")
    p.add_argument("--split-column", default=None, help="copy the split from this column instead")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of groups for val (0.1)")
    p.add_argument("--test-fraction", type=float, default=0.0, help="share of groups for test (0)")
    p.add_argument("--source", default=None, help="dataset name stored in every row")
    p.add_argument("--license", default=None, help="licence stored in every row")
    p.set_defaults(
        func=lambda a: data_build(
            a.out,
            a.dataset,
            a.metadata,
            a.template,
            a.label_column,
            a.audio_column,
            a.group_column,
            a.split_column,
            a.val_fraction,
            a.test_fraction,
            a.source,
            a.license,
        ),
    )


def register_cli(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``data`` with its ``check``, ``shard`` and ``build`` subcommands to ``subparsers``."""
    parser = subparsers.add_parser(
        "data",
        help="build, check and shard training manifests",
        description="Training data tools: `build` a caption manifest from labelled datasets, `check` its "
        "audio, `shard` it into WebDataset tar files. Run `openclap data COMMAND --help`.",
    )
    sub = parser.add_subparsers(dest="data_command", required=True)
    _add_check(sub)
    _add_shard(sub)
    _add_build(sub)
    return parser
