"""Check that no training clip contains audio of a held-out benchmark clip (decontamination).

Usage::

    .venv/bin/python recipes/default_model/check_overlap.py --manifest /work/openclap-data/manifest.jsonl \
        --heldout ../shared/data/esc50-fold4 ../shared/data/audiocaps-demo

ESC-50 was cut from Freesound recordings, and several corpus sources (sonic-pi-samples, the hydrogen
drum kits, scratch's library) hold Freesound sounds too, so the same recording could reach both the
training corpus and the held-out set.  This script finds such pairs by audio fingerprint, whatever
the file names, sample rates, gains or cut points:

- Every clip is resampled to 5,512 Hz; frames of 0.37 s every 11.6 ms get a 32-bit sub-fingerprint
  from the signs of the energy differences between 33 log-spaced bands (300-2,000 Hz), across
  bands and across time (J. Haitsma and T. Kalker, "A Highly Robust Audio Fingerprinting System",
  ISMIR 2002).
- The corpus frames are indexed by their sub-fingerprint.  Each held-out frame looks up the exact
  matches; a shared recording shows up as many matches at one time offset.
- Candidates are verified by the bit error rate of a block of up to 256 aligned frames: Haitsma and
  Kalker's threshold 0.35 separates the same audio (rates below about 0.2) from different audio
  (about 0.5).

The held-out sets are only read to search for them; nothing is written but the report.  Relative audio
paths of the manifest are relative to its folder.  Exit status 1 when an overlap is found, or when a
corpus clip cannot be read (it was not checked); 2 when an input is missing or ``--out`` cannot be written.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openclap.atomic import atomic_write
from openclap.audio.io import AudioError, load_mono

RATE = 5512
FRAME = 2048
HOP = 64
BANDS = 33
FMIN, FMAX = 300.0, 2000.0
BLOCK = 256
BER_MATCH = 0.35
MIN_VOTES = 4
SILENT_DB = -60.0


@dataclass
class Match:
    heldout: str
    corpus: str
    votes: int
    ber: float
    frames: int
    offset_s: float


def decode(path: str | Path) -> np.ndarray:
    """Mono float32 at RATE (openclap's decoder; raises AudioError naming the file)."""
    return load_mono(path, RATE)


def _band_edges() -> np.ndarray:
    freqs = np.fft.rfftfreq(FRAME, 1.0 / RATE)
    edges = np.geomspace(FMIN, FMAX, BANDS + 1)
    return np.searchsorted(freqs, edges)


_EDGES = _band_edges()


def fingerprint(wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """32-bit sub-fingerprints [F] (uint32) and a mask of the frames loud enough to count [F]."""
    if len(wave) < FRAME + 2 * HOP:
        return np.zeros(0, np.uint32), np.zeros(0, bool)
    frames = np.lib.stride_tricks.sliding_window_view(wave, FRAME)[::HOP]
    spec = np.abs(np.fft.rfft(frames * np.hanning(FRAME).astype(np.float32), axis=1)) ** 2
    energy = np.add.reduceat(spec, _EDGES[:-1], axis=1)[:, :BANDS] + 1e-12
    diff = energy[:, :-1] - energy[:, 1:]  # [F, 32]
    bits = (diff[1:] - diff[:-1]) > 0  # [F-1, 32]
    weights = (1 << np.arange(32, dtype=np.uint64)).astype(np.uint64)
    codes = (bits.astype(np.uint64) * weights).sum(axis=1).astype(np.uint32)
    level = 10 * np.log10(np.mean(frames[1:] ** 2, axis=1) + 1e-20)
    loud = (level > SILENT_DB) & (codes != 0) & (codes != 0xFFFFFFFF)
    return codes, loud


class Index:
    """Sub-fingerprints of many clips, searchable by exact code."""

    def __init__(self, names: list[str], prints: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.names = names
        self.codes = [c for c, _ in prints]
        clip_ids, frame_ids, keys = [], [], []
        for i, (codes, loud) in enumerate(prints):
            idx = np.nonzero(loud)[0]
            keys.append(codes[idx])
            frame_ids.append(idx.astype(np.int32))
            clip_ids.append(np.full(len(idx), i, np.int32))
        key = np.concatenate(keys) if keys else np.zeros(0, np.uint32)
        order = np.argsort(key, kind="stable")
        self.key = key[order]
        self.clip = np.concatenate(clip_ids)[order] if clip_ids else np.zeros(0, np.int32)
        self.frame = np.concatenate(frame_ids)[order] if frame_ids else np.zeros(0, np.int32)

    def search(self, codes: np.ndarray, loud: np.ndarray) -> list[tuple[int, int, int]]:
        """(clip, offset in frames, votes) of corpus clips sharing aligned codes with the query."""
        q = np.nonzero(loud)[0]
        lo = np.searchsorted(self.key, codes[q], side="left")
        hi = np.searchsorted(self.key, codes[q], side="right")
        votes: dict[tuple[int, int], int] = {}
        for qi, a, b in zip(q, lo, hi, strict=True):
            for j in range(a, min(b, a + 50)):  # very common codes carry no information
                pair = (int(self.clip[j]), int(self.frame[j]) - int(qi))
                votes[pair] = votes.get(pair, 0) + 1
        best: dict[int, tuple[int, int]] = {}
        for (clip, off), n in votes.items():
            if n > best.get(clip, (0, 0))[1]:
                best[clip] = (off, n)
        return [(clip, off, n) for clip, (off, n) in best.items() if n >= MIN_VOTES]


def bit_error_rate(query: np.ndarray, ref: np.ndarray, offset: int) -> tuple[float, int]:
    """BER over the aligned frames (at most BLOCK) of query[t] and ref[t + offset]."""
    start = max(0, -offset)
    stop = min(len(query), len(ref) - offset)
    if stop - start <= 0:
        return 1.0, 0
    # the most informative block: centred on the aligned span
    n = min(BLOCK, stop - start)
    s = start + (stop - start - n) // 2
    a, b = query[s : s + n], ref[s + offset : s + offset + n]
    diff = np.bitwise_xor(a, b)
    errors = np.unpackbits(diff.view(np.uint8)).sum()
    return float(errors) / (32 * n), n


def find_overlaps(index: Index, heldout: list[tuple[str, np.ndarray, np.ndarray]]) -> list[Match]:
    found: list[Match] = []
    for name, codes, loud in heldout:
        for clip, off, votes in index.search(codes, loud):
            ber, n = bit_error_rate(codes, index.codes[clip], off)
            if ber < BER_MATCH and n >= 32:
                found.append(
                    Match(name, index.names[clip], votes, round(ber, 3), n, round(off * HOP / RATE, 2))
                )
    return found


def heldout_files(folder: Path) -> list[Path]:
    with open(folder / "metadata.csv", newline="") as f:
        return sorted({folder / row["filename"] for row in csv.DictReader(f)})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", required=True, help="the corpus manifest.jsonl (its audio paths are read)")
    ap.add_argument("--heldout", nargs="+", required=True, help="held-out data folders with metadata.csv")
    ap.add_argument("--out", help="write the matches as JSON here")
    args = ap.parse_args(argv)
    problems = [f"{args.manifest}: manifest not found"] if not Path(args.manifest).is_file() else []
    problems += [f"{h}: no metadata.csv" for h in args.heldout if not (Path(h) / "metadata.csv").is_file()]
    if args.out and not os.access(Path(args.out).resolve().parent, os.W_OK):
        problems.append(f"--out {args.out}: its folder does not exist or is not writable")
    if problems:  # before the corpus is fingerprinted (minutes), not after
        print("error: " + "; ".join(problems), file=sys.stderr)
        return 2

    base = Path(args.manifest).resolve().parent  # relative audio paths are relative to the manifest
    with open(args.manifest) as f:
        corpus = [str(base / json.loads(line)["audio"]) for line in f if line.strip()]
    prints, names, bad = [], [], []
    for path in corpus:
        try:
            prints.append(fingerprint(decode(path)))
            names.append(path)
        except AudioError as exc:
            bad.append(f"{path}: {exc}")
    index = Index(names, prints)
    print(f"corpus: {len(names)} clips, {len(index.key):,} indexed frames; {len(bad)} unreadable")
    for line in bad:
        print(f"  unreadable: {line}", file=sys.stderr)

    matches: list[Match] = []
    for folder in map(Path, args.heldout):
        files = heldout_files(folder)
        queries = []
        for path in files:
            codes, loud = fingerprint(decode(path))
            queries.append((str(path), codes, loud))
        found = find_overlaps(index, queries)
        print(f"{folder}: {len(files)} clips searched, {len(found)} overlapping corpus clips")
        matches += found
    for m in matches:
        where = f"BER {m.ber}, {m.frames} frames, {m.votes} votes, at {m.offset_s} s"
        print(f"  OVERLAP {m.heldout} ~ {m.corpus} ({where})")
    if args.out:
        text = json.dumps([m.__dict__ for m in matches], indent=1)
        atomic_write(Path(args.out), lambda tmp: tmp.write_text(text))
    if bad:  # a clip that could not be read was not checked: the corpus is not shown clean
        print(f"error: {len(bad)} corpus clips could not be read, so they were not checked", file=sys.stderr)
    return 1 if matches or bad else 0


if __name__ == "__main__":
    sys.exit(main())
