"""Audio-caption manifests (CSV or JSONL) and their validation.

One row per clip with the fields

| field | meaning |
|---|---|
| ``audio`` | path of the audio file; relative paths are relative to the manifest's folder |
| ``captions`` | one or more captions (JSONL: a list; CSV: a JSON list or one plain caption) |
| ``labels`` | optional class labels (JSONL: a list; CSV: a JSON list or one plain label) |
| ``split`` | optional split name (``train``, ``val``, ``test``, ...) |
| ``source`` | optional dataset name |
| ``license`` | optional licence of the clip |

Other fields (``duration``, provenance, ...) are kept in ``extra`` and written back unchanged.
Training samples one caption per clip per epoch; evaluation uses all of them.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openclap.atomic import atomic_write

FIELDS = ("audio", "captions", "labels", "split", "source", "license")
FORMATS = (".csv", ".jsonl")


class ManifestError(ValueError):
    """A manifest that cannot be read; the message names the file, the row and the problem."""


@dataclass(frozen=True)
class ManifestEntry:
    """One clip and its texts. ``audio`` is absolute after ``read_manifest``."""

    audio: str
    captions: tuple[str, ...]
    labels: tuple[str, ...] = ()
    split: str | None = None
    source: str | None = None
    license: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.audio:
            raise ValueError("entry has an empty 'audio' path")
        if not self.captions:
            raise ValueError(f"{self.audio}: entry has no caption")
        for caption in self.captions:
            if not isinstance(caption, str) or not caption.strip():
                raise ValueError(f"{self.audio}: empty or non-text caption {caption!r}")

    def to_dict(self, audio: str | None = None) -> dict[str, Any]:
        return {
            "audio": audio if audio is not None else self.audio,
            "captions": list(self.captions),
            "labels": list(self.labels),
            "split": self.split,
            "source": self.source,
            "license": self.license,
            **self.extra,
        }


def _text_list(value: Any, name: str) -> tuple[str, ...]:
    """A list field from JSONL (list or string) or CSV (JSON list text or one plain value)."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                raise ValueError(f"'{name}' is not a valid JSON list ({err.msg})") from None
        else:
            return (text,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{name}' must be a list of strings, got {value!r}")
    return tuple(v.strip() for v in value)


def _optional_text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def entry_from_row(row: dict[str, Any], base: Path | None = None) -> ManifestEntry:
    """Validate one manifest row; relative audio paths are joined to ``base``."""
    audio = str(row.get("audio") or "")
    if audio and base is not None and not os.path.isabs(audio):
        audio = str(base / audio)
    return ManifestEntry(
        audio=audio,
        captions=_text_list(row.get("captions"), "captions"),
        labels=_text_list(row.get("labels"), "labels"),
        split=_optional_text(row.get("split")),
        source=_optional_text(row.get("source")),
        license=_optional_text(row.get("license")),
        extra={k: v for k, v in row.items() if k not in FIELDS},
    )


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, raw row) pairs of a CSV or JSONL file."""
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ManifestError(f"{path}:{number}: invalid JSON ({err.msg})") from None
                if not isinstance(row, dict):
                    raise ManifestError(f"{path}:{number}: each line must be a JSON object")
                yield number, row
    elif path.suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as fh:
            for number, row in enumerate(csv.DictReader(fh), start=2):
                yield number, dict(row)
    else:
        raise ManifestError(f"{path}: unknown manifest format {path.suffix!r}; use one of {list(FORMATS)}")


def read_manifest(
    path: str | os.PathLike[str], split: str | Sequence[str] | None = None, resolve: bool = True
) -> list[ManifestEntry]:
    """Read and validate a manifest; keep only ``split`` (a name or names) when given.

    ``resolve`` makes relative audio paths absolute (relative to the manifest's folder).
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    base = path.resolve().parent if resolve else None
    wanted = {split} if isinstance(split, str) else set(split) if split is not None else None
    entries = []
    for number, row in _rows(path):
        try:
            entry = entry_from_row(row, base)
        except ValueError as err:
            raise ManifestError(f"{path}:{number}: {err}") from None
        if wanted is None or entry.split in wanted:
            entries.append(entry)
    return entries


def _relative(audio: str, folder: Path) -> str:
    try:
        return os.path.relpath(audio, folder)
    except ValueError:  # another drive on Windows
        return audio


def manifest_text(entries: Iterable[ManifestEntry], suffix: str, relative_to: Path | None = None) -> str:
    """Serialise entries as CSV or JSONL text (paths relative to ``relative_to`` when given)."""
    rows = [e.to_dict(_relative(e.audio, relative_to) if relative_to else None) for e in entries]
    if suffix == ".jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if suffix != ".csv":
        raise ManifestError(f"unknown manifest format {suffix!r}; use one of {list(FORMATS)}")
    buffer = io.StringIO()
    extras = sorted({k for row in rows for k in row} - set(FIELDS))
    writer = csv.DictWriter(buffer, fieldnames=[*FIELDS, *extras], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        row["captions"] = json.dumps(row["captions"], ensure_ascii=False)
        row["labels"] = json.dumps(row["labels"], ensure_ascii=False) if row["labels"] else ""
        writer.writerow({k: _csv_value(v) for k, v in row.items()})
    return buffer.getvalue()


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def write_manifest(
    entries: Iterable[ManifestEntry], path: str | os.PathLike[str], relative_paths: bool = True
) -> Path:
    """Write a CSV or JSONL manifest atomically; audio paths are stored relative to its folder."""
    path = Path(path)
    folder = path.resolve().parent if relative_paths else None
    text = manifest_text(entries, path.suffix, folder)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


# ----- validation ------------------------------------------------------------------------------------
@dataclass
class CheckReport:
    """Result of ``check_manifest``: problems as (audio path, message) pairs per kind."""

    total: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    too_short: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def bad(self) -> int:
        return len(self.missing) + len(self.corrupt) + len(self.too_short)

    @property
    def ok(self) -> bool:
        return self.bad == 0 and not self.duplicates

    def summary(self) -> str:
        splits = ", ".join(f"{k}: {v}" for k, v in sorted(self.splits.items())) or "none"
        return (
            f"{self.total} clips ({self.seconds / 3600:.2f} h), splits {splits}; "
            f"missing {len(self.missing)}, corrupt {len(self.corrupt)}, too short {len(self.too_short)}, "
            f"duplicate paths {len(self.duplicates)}"
        )

    def problems(self) -> list[tuple[str, str, str]]:
        """(kind, audio path, message) for every problem."""
        kinds = (("missing", self.missing), ("corrupt", self.corrupt), ("too_short", self.too_short))
        out = [(kind, path, msg) for kind, items in kinds for path, msg in items]
        return out + [("duplicate", path, msg) for path, msg in self.duplicates]


def _check_entry(entry: ManifestEntry, min_seconds: float, decode: bool) -> tuple[str | None, str, float]:
    """(problem kind or None, message, duration in seconds) of one clip."""
    import soundfile as sf  # here, so that reading and writing manifests needs no audio stack

    from openclap.audio.io import AudioError, load_audio

    path = Path(entry.audio)
    if not path.is_file():
        return "missing", "file not found", 0.0
    try:
        if decode:
            wave, sample_rate = load_audio(path)
            seconds = wave.shape[-1] / sample_rate
        else:
            info = sf.info(str(path))
            seconds = float(info.frames) / float(info.samplerate)
    except (AudioError, sf.LibsndfileError, RuntimeError) as err:
        return "corrupt", str(err).removeprefix(f"{path}: "), 0.0
    if seconds < min_seconds:
        return "too_short", f"{seconds:.3f} s is shorter than {min_seconds} s", seconds
    return None, "", seconds


def check_entries(
    entries: Sequence[ManifestEntry], min_seconds: float = 0.1, decode: bool = True, progress: bool = False
) -> CheckReport:
    """Find missing, undecodable, too-short and duplicated clips (``decode=False`` reads headers only)."""
    report = CheckReport(total=len(entries))
    seen: set[str] = set()
    iterator: Iterable[ManifestEntry] = entries
    if progress:
        from tqdm import tqdm

        iterator = tqdm(entries, desc="checking", unit="clip")
    for entry in iterator:
        key = os.path.normpath(entry.audio)
        if key in seen:
            report.duplicates.append((entry.audio, "listed more than once"))
        seen.add(key)
        split = entry.split or "(none)"
        report.splits[split] = report.splits.get(split, 0) + 1
        kind, message, seconds = _check_entry(entry, min_seconds, decode)
        report.seconds += seconds
        if kind is not None:
            getattr(report, kind).append((entry.audio, message))
    return report


def check_manifest(
    path: str | os.PathLike[str], min_seconds: float = 0.1, decode: bool = True, progress: bool = False
) -> CheckReport:
    """Read a manifest and check every clip (see ``check_entries``)."""
    return check_entries(read_manifest(path), min_seconds=min_seconds, decode=decode, progress=progress)


def drop_bad(entries: Sequence[ManifestEntry], report: CheckReport) -> list[ManifestEntry]:
    """The entries whose audio passed the check."""
    bad = {path for path, _ in report.missing + report.corrupt + report.too_short}
    return [e for e in entries if e.audio not in bad]
