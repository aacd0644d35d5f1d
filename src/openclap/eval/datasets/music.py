"""Music datasets: GTZAN genres, GTZAN music/speech, Mridangam stroke and tonic, Beijing Opera percussion."""

from __future__ import annotations

from pathlib import Path

from openclap.eval.datasets.base import (
    DatasetLayoutError,
    EvalDataset,
    ItemBuilder,
    PathLike,
    audio_files,
    require,
    require_root,
)

GTZAN_GENRES: tuple[str, ...] = (
    "blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock",
)  # fmt: skip


def load_gtzan_genres(root: PathLike) -> EvalDataset:
    """GTZAN genre collection (Tzanetakis & Cook 2002): 1000 30 s excerpts, 10 genres, no official folds.

    Layout of the release (``.au``; the Kaggle copy holds ``.wav`` under ``genres_original/``)::

        root/genres/<genre>/<genre>.000NN.au      (or root/genres_original/..., or root/<genre>/...)
    """
    name = "gtzan-genres"
    base = require_root(root, name)
    folder = next((p for p in (base / "genres", base / "genres_original") if p.is_dir()), base)
    builder = ItemBuilder(name, "single-label", GTZAN_GENRES)
    for label, genre in enumerate(GTZAN_GENRES):
        for path in audio_files(require(folder / genre, name, f"the {genre!r} genre folder")):
            builder.add(path, [label])
    return builder.build(base)


def load_gtzan_music_speech(root: PathLike) -> EvalDataset:
    """GTZAN music/speech: 64 music and 64 speech excerpts of 30 s, no official folds.

    Layout::

        root/music_speech/music_wav/*.wav    (or root/music_wav/ directly)
        root/music_speech/speech_wav/*.wav
    """
    name = "gtzan-music-speech"
    base = require_root(root, name)
    folder = base / "music_speech" if (base / "music_speech").is_dir() else base
    builder = ItemBuilder(name, "single-label", ("music", "speech"))
    for label, kind in enumerate(("music", "speech")):
        for path in audio_files(require(folder / f"{kind}_wav", name, f"the {kind}_wav folder")):
            builder.add(path, [label])
    return builder.build(base)


MRIDANGAM_STROKES: tuple[str, ...] = (
    "bheem",
    "cha",
    "dheem",
    "dhin",
    "num",
    "ta",
    "tha",
    "tham",
    "thi",
    "thom",
)
MRIDANGAM_TONICS: tuple[str, ...] = ("B", "C", "C#", "D", "D#", "E")


def _mridangam_files(root: PathLike, name: str) -> tuple[Path, list[tuple[Path, str, str]]]:
    """(root, [(path, stroke, tonic)]) from '<tonic>/<id>__<author>__<stroke>-<tonic>-<n>.wav' files."""
    base = require_root(root, name)
    folder = next((p for p in sorted(base.glob("mridangam_stroke*")) if p.is_dir()), base)
    found = []
    for tonic in MRIDANGAM_TONICS:
        for path in audio_files(require(folder / tonic, name, f"the tonic folder {tonic!r}")):
            parts = path.stem.split("__")
            stroke = parts[-1].split("-")[0].lower() if len(parts) == 3 else ""
            if stroke not in MRIDANGAM_STROKES:
                raise DatasetLayoutError(
                    f"{name}: file name {path.name} is not <id>__<author>__<stroke>-<tonic>-<n> "
                    f"with a stroke in {list(MRIDANGAM_STROKES)}"
                )
            found.append((path, stroke, tonic))
    return base, found


def load_mridangam_stroke(root: PathLike) -> EvalDataset:
    """Mridangam stroke dataset (Anantapadmanabhan et al. 2013), 10 stroke classes, no official folds.

    Layout of the Zenodo release (``mridangam_stroke_1.5``)::

        root/mridangam_stroke_1.5/<tonic>/<id>__<author>__<stroke>-<tonic>-<n>.wav   (or root/<tonic>/...)

    with tonic folders B, C, C#, D, D#, E. The tonic is kept as metadata ``tonic``.
    """
    name = "mridangam-stroke"
    base, files = _mridangam_files(root, name)
    builder = ItemBuilder(name, "single-label", MRIDANGAM_STROKES)
    for path, stroke, tonic in files:
        builder.add(path, [MRIDANGAM_STROKES.index(stroke)], tonic=tonic, stroke=stroke)
    return builder.build(base)


def load_mridangam_tonic(root: PathLike) -> EvalDataset:
    """Mridangam tonic classification (6 tonics) over the same files as ``load_mridangam_stroke``;
    the tonic is the folder name, the stroke is kept as metadata ``stroke``."""
    name = "mridangam-tonic"
    base, files = _mridangam_files(root, name)
    builder = ItemBuilder(name, "single-label", MRIDANGAM_TONICS)
    for path, stroke, tonic in files:
        builder.add(path, [MRIDANGAM_TONICS.index(tonic)], tonic=tonic, stroke=stroke)
    return builder.build(base)


BEIJING_OPERA_CLASSES: tuple[str, ...] = ("bangu", "naobo", "daluo", "xiaoluo")


def load_beijing_opera(root: PathLike) -> EvalDataset:
    """Beijing Opera percussion instrument dataset (Tian et al. 2014): single strokes of 4 instruments,
    bangu (clapper drum), naobo (cymbals), daluo (large gong), xiaoluo (small gong); no official folds.

    Layout: one folder per instrument, named after it (any case), anywhere under ``root``::

        root/[...]/<bangu|naobo|daluo|xiaoluo>/[...]/*.wav
    """
    name = "beijing-opera"
    base = require_root(root, name)
    builder = ItemBuilder(name, "single-label", BEIJING_OPERA_CLASSES)
    for path in audio_files(base):
        rel = path.relative_to(base).parts[:-1]
        label = next((p.lower() for p in reversed(rel) if p.lower() in BEIJING_OPERA_CLASSES), None)
        if label is not None:
            builder.add(path, [BEIJING_OPERA_CLASSES.index(label)])
    if not builder.items:
        raise DatasetLayoutError(
            f"{name}: no audio inside folders named {list(BEIJING_OPERA_CLASSES)} under {base}"
        )
    return builder.build(base)
