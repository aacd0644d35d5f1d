"""An everyday-sound validation set that no model here trains on: moodist's named ambience loops.

The corpus val split and the sources held out by ``holdout_sources.py`` are labelled from file names
written for games and software (monster, grunt, sci-fi, ...), the same kind of names the default model
learns from. ``remvze/moodist`` (an ambient-sound app; MIT code, sounds under the Pixabay Content
License or CC0 by its README) names about 80 long recordings with plain everyday words: birds, crickets,
dog barking, campfire, river, waves, rain on a window, thunder, keyboard, clock, washing machine, train,
airplane, ambulance siren, crowd, busy street, ... Each file's name is its label (``dog-barking`` ->
"dog barking"); synthetic sounds (``noise/``, ``binaural/``, ``silence``) are left out.

The recipe never trains on this set (it writes split ``everyday``, which training does not read, into
its own manifest) and it never enters the shipped corpus: it is what a candidate default model is
chosen by. Each recording gives ``--windows`` clips of ``--seconds`` evenly spread over its length (one
whole clip when it is shorter); clips quieter than -60 dBFS RMS are dropped and reported.

    .venv/bin/python recipes/default_model/everyday_val.py --repos /work/.mirror \\
        --out /work/openclap-data/everyday
    .venv/bin/python benchmarks/val_zero_shot.py --manifest /work/openclap-data/everyday/manifest.jsonl \\
        --split everyday --checkpoints A B --conditions noise20 noise10 reverb0.4 reverb1.0 --bootstrap 10000

``--repos`` holds the repository as the search tool's ``fetch`` mirror (``DIR/remvze+moodist/repo``, read
at the pinned commit) or as a plain clone (``DIR/remvze/moodist``). Outputs (atomic): ``OUT/audio/*.flac``
(mono, 16-bit, at most 32 kHz) and ``OUT/manifest.jsonl``. Run ``check_overlap.py --manifest
OUT/manifest.jsonl --heldout ../shared/data/esc50-fold4 ../shared/data/audiocaps-demo`` after building it.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from git_sources import find_repo, iter_files
from prepare_data import MAX_SR, SILENCE_DBFS, rms_dbfs  # the corpus's rate cap and silence test

from openclap.atomic import atomic_write
from openclap.audio.io import resample, to_mono
from openclap.data.manifest import ManifestEntry, write_manifest

REPO = "remvze/moodist"
COMMIT = "983f7412e8cd054e76d156977c563da2028e4428"
LICENCE = "Pixabay Content License or CC0 (remvze/moodist README)"
SOUNDS = re.compile(r"^public/sounds/(?!noise/|binaural/)[^/]+/[^/]+\.(mp3|ogg|wav|flac)$")


def label_of(path: str) -> str:
    """``public/sounds/rain/rain-on-window.mp3`` -> ``rain on window``."""
    return Path(path).stem.replace("-", " ").replace("_", " ").strip()


def windows(wave: np.ndarray, rate: int, count: int, seconds: float) -> list[tuple[float, np.ndarray]]:
    """``count`` windows of ``seconds`` evenly spread over ``wave`` (their centres at (i + 0.5) / count of
    its length), as (start seconds, samples); the whole wave once when it is not longer than one window."""
    size = round(seconds * rate)
    if len(wave) <= size:
        return [(0.0, wave)]
    out = []
    for i in range(count):
        centre = (i + 0.5) * len(wave) / count
        start = int(min(max(centre - size / 2, 0), len(wave) - size))
        out.append((start / rate, wave[start : start + size]))
    return out


def build(repo: Path, out: Path, count: int, seconds: float, commit: str = COMMIT) -> list[ManifestEntry]:
    """Decode every named recording of ``repo``, write its clips under ``out/audio``; the manifest rows."""
    entries: list[ManifestEntry] = []
    (out / "audio").mkdir(parents=True, exist_ok=True)
    for rel, data in iter_files(repo, commit, SOUNDS):
        label = label_of(rel)
        if label == "silence":
            continue
        try:
            wave, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            print(f"skipped {rel}: cannot decode ({exc})", file=sys.stderr)
            continue
        wave = to_mono(wave.T)
        if rate > MAX_SR:
            wave, rate = resample(wave, rate, MAX_SR), MAX_SR
        for i, (start, clip) in enumerate(windows(wave, rate, count, seconds)):
            if rms_dbfs(clip) < SILENCE_DBFS:
                print(f"skipped {rel} window {i} at {start:.1f} s: quieter than {SILENCE_DBFS:.0f} dBFS")
                continue
            name = f"{Path(rel).stem}-{i}.flac"
            atomic_write(
                out / "audio" / name, lambda p, c=clip, r=rate: sf.write(p, c, r, "PCM_16", format="FLAC")
            )
            entries.append(
                ManifestEntry(
                    audio=str(out / "audio" / name),
                    captions=(f"the sound of {label}",),
                    labels=(label,),
                    split="everyday",
                    source=f"{REPO}@{commit[:12]} (GitHub)",
                    license=LICENCE,
                    extra={"orig": rel, "start": round(start, 3), "duration": round(len(clip) / rate, 3)},
                )
            )
    return entries


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=Path, default=Path("/work/.mirror"), help="mirrors or clones")
    parser.add_argument("--out", type=Path, required=True, help="output folder (audio/, manifest.jsonl)")
    parser.add_argument("--windows", type=int, default=3, help="clips per recording (default 3)")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (default 10 s)")
    args = parser.parse_args(argv)
    if args.windows < 1 or args.seconds <= 0:
        parser.error("--windows must be >= 1 and --seconds > 0")
    repo = find_repo(args.repos, REPO)
    if repo is None:
        print(
            f"error: {REPO} is not under {args.repos} (fetch it, or clone it as DIR/remvze/moodist)",
            file=sys.stderr,
        )
        return 1
    try:
        entries = build(repo, args.out, args.windows, args.seconds)
        if not entries:
            print(f"error: no recordings found in {repo}", file=sys.stderr)
            return 1
        manifest = write_manifest(entries, args.out / "manifest.jsonl")
    except OSError as exc:  # an unwritable --out
        print(f"error: --out {args.out}: {exc}", file=sys.stderr)
        return 1
    labels = {e.labels[0] for e in entries}
    print(f"{manifest}: {len(entries)} clips of {len(labels)} labels from {repo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
