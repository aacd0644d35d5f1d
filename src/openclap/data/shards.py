"""WebDataset tar shards: one ``KEY.flac`` (16-bit mono FLAC) + ``KEY.json`` (texts) per clip.

``write_shards`` decodes (and optionally resamples) every clip of a manifest once and packs them into
``shard-000000.tar``, ... plus an ``index.json`` listing each shard's sample count (used to split work
evenly across ranks and workers). The files follow the WebDataset layout, so ``webdataset`` and other
tar readers can stream them too; ``iter_samples`` is our dependency-free streaming reader.
"""

from __future__ import annotations

import glob
import io
import json
import os
import re
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from openclap.atomic import atomic_write
from openclap.audio.io import AudioError, load_mono
from openclap.data.manifest import ManifestEntry

INDEX_NAME = "index.json"
INDEX_FORMAT = "openclap-shards"


@dataclass
class ShardIndex:
    """Shard file names (relative to ``folder``) with their sample counts."""

    folder: Path
    shards: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    sample_rate: int | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts)

    def paths(self) -> list[Path]:
        return [self.folder / name for name in self.shards]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": INDEX_FORMAT,
            "version": 1,
            "sample_rate": self.sample_rate,
            "total": self.total,
            "shards": [{"name": n, "count": c} for n, c in zip(self.shards, self.counts, strict=True)],
            "skipped": [list(item) for item in self.skipped],
        }


def encode_flac(wave: np.ndarray, sample_rate: int) -> bytes:
    """16-bit FLAC bytes of a mono float waveform (clipped to [-1, 1])."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(wave, -1.0, 1.0), sample_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def decode_audio_bytes(data: bytes, source: str) -> tuple[np.ndarray, int]:
    """Decode FLAC/WAV/OGG bytes to (mono float32 [N], sample_rate); ``AudioError`` when corrupt."""
    try:
        wave, sample_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(source, f"cannot decode audio ({err})") from None
    if wave.shape[0] == 0:
        raise AudioError(source, "audio has no samples")
    mono = wave.mean(axis=1, dtype=np.float32) if wave.shape[1] > 1 else wave[:, 0]
    if not np.isfinite(mono).all():
        raise AudioError(source, "audio holds non-finite samples (NaN or Inf)")
    return np.ascontiguousarray(mono), int(sample_rate)


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0  # reproducible shards
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def sample_record(entry: ManifestEntry, sample_rate: int) -> dict[str, Any]:
    record = entry.to_dict()
    record["sample_rate"] = sample_rate
    return record


def _write_tar(path: Path, samples: Sequence[tuple[str, bytes, dict[str, Any]]]) -> None:
    def write(tmp: Path) -> None:
        with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            for key, flac, record in samples:
                _add_member(tar, f"{key}.flac", flac)
                _add_member(tar, f"{key}.json", json.dumps(record, ensure_ascii=False).encode())

    atomic_write(path, write)


def _encoded(
    entries: Iterable[ManifestEntry], sample_rate: int | None, index: ShardIndex
) -> Iterator[tuple[str, bytes, dict[str, Any]]]:
    """(key, flac bytes, record) of every decodable clip; bad clips go to ``index.skipped``."""
    for number, entry in enumerate(entries):
        try:
            if sample_rate is None:
                with sf.SoundFile(entry.audio) as fh:
                    rate = int(fh.samplerate)
            else:
                rate = sample_rate
            wave = load_mono(entry.audio, rate)
        except (AudioError, sf.LibsndfileError, RuntimeError) as err:
            index.skipped.append((entry.audio, str(err).removeprefix(f"{entry.audio}: ")))
            continue
        yield f"{number:09d}", encode_flac(wave, rate), sample_record(entry, rate)


def write_shards(
    entries: Sequence[ManifestEntry],
    out_dir: str | os.PathLike[str],
    samples_per_shard: int = 1000,
    sample_rate: int | None = None,
    prefix: str = "shard",
    progress: bool = False,
) -> ShardIndex:
    """Pack ``entries`` into tar shards in ``out_dir`` and write ``index.json``.

    ``sample_rate`` resamples every clip once (so training never resamples); ``None`` keeps each file's
    rate. Clips that cannot be decoded are skipped and listed in the index.
    """
    if samples_per_shard < 1:
        raise ValueError(f"samples_per_shard must be >= 1, got {samples_per_shard}")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    index = ShardIndex(folder=folder, sample_rate=sample_rate)
    iterator: Iterable[ManifestEntry] = entries
    if progress:
        from tqdm import tqdm

        iterator = tqdm(entries, desc="sharding", unit="clip")
    pending: list[tuple[str, bytes, dict[str, Any]]] = []
    for sample in _encoded(iterator, sample_rate, index):
        pending.append(sample)
        if len(pending) == samples_per_shard:
            _flush(index, pending, prefix)
    if pending:
        _flush(index, pending, prefix)
    text = json.dumps(index.to_dict(), indent=1) + "\n"
    atomic_write(folder / INDEX_NAME, lambda tmp: tmp.write_text(text))
    return index


def _flush(index: ShardIndex, pending: list[tuple[str, bytes, dict[str, Any]]], prefix: str) -> None:
    name = f"{prefix}-{len(index.shards):06d}.tar"
    _write_tar(index.folder / name, pending)
    index.shards.append(name)
    index.counts.append(len(pending))
    pending.clear()


# ----- reading ---------------------------------------------------------------------------------------
def split_key(name: str) -> tuple[str, str]:
    """WebDataset convention: the key is the path up to the first dot of the basename."""
    folder, _, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), ext


def iter_samples(path: str | os.PathLike[str]) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Stream (key, {extension: bytes}) groups from a tar shard without extracting it."""
    key: str | None = None
    group: dict[str, bytes] = {}
    with tarfile.open(path, "r|*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            member_key, ext = split_key(member.name)
            if key is not None and member_key != key:
                yield key, group
                group = {}
            key = member_key
            handle = tar.extractfile(member)
            group[ext] = handle.read() if handle else b""
    if key is not None:
        yield key, group


def expand_braces(pattern: str) -> list[str]:
    """``a-{000..002}.tar`` -> [a-000.tar, a-001.tar, a-002.tar] (zero padding kept); also {x,y}."""
    match = re.search(r"\{([^{}]*)\}", pattern)
    if not match:
        return [pattern]
    body, head, tail = match.group(1), pattern[: match.start()], pattern[match.end() :]
    numeric = re.fullmatch(r"(\d+)\.\.(\d+)", body)
    if numeric:
        lo, hi = numeric.groups()
        items = [str(i).zfill(len(lo)) for i in range(int(lo), int(hi) + 1)]
    else:
        items = body.split(",")
    return [out for item in items for out in expand_braces(head + item + tail)]


def read_index(path: str | os.PathLike[str]) -> ShardIndex:
    """Read ``index.json`` (or the one inside a folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / INDEX_NAME
    data = json.loads(path.read_text())
    if data.get("format") != INDEX_FORMAT:
        raise ValueError(f"{path}: not an openclap shard index (format {data.get('format')!r})")
    return ShardIndex(
        folder=path.parent,
        shards=[s["name"] for s in data["shards"]],
        counts=[int(s["count"]) for s in data["shards"]],
        sample_rate=data.get("sample_rate"),
        skipped=[tuple(item) for item in data.get("skipped", [])],
    )


def count_samples(path: str | os.PathLike[str]) -> int:
    """Number of samples in a shard (reads only the tar headers' names)."""
    with tarfile.open(path, "r|*") as tar:
        return len({split_key(m.name)[0] for m in tar if m.isfile()})


def resolve_shards(spec: str | os.PathLike[str]) -> ShardIndex:
    """Shards from a folder or ``index.json``, or a brace/glob pattern (counted from tar headers)."""
    path = Path(spec)
    if path.is_dir() or path.suffix == ".json":
        return read_index(path)
    files = sorted({f for pattern in expand_braces(str(spec)) for f in glob.glob(pattern)})
    if not files:
        raise FileNotFoundError(f"no shards match {spec!r}")
    names = [os.path.abspath(f) for f in files]
    return ShardIndex(folder=Path("/"), shards=names, counts=[count_samples(f) for f in names])
