"""Text-audio retrieval datasets with several captions per clip: AudioCaps and Clotho."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from openclap.eval.datasets.base import (
    AUDIO_EXTENSIONS,
    DatasetLayoutError,
    EvalDataset,
    ItemBuilder,
    PathLike,
    first_existing,
    read_csv,
    require_root,
)


def _group_captions(builder: ItemBuilder, rows: Sequence[tuple[Path, str]], fold: str | None) -> None:
    """One item per audio path, holding its captions in file order."""
    captions: dict[Path, list[str]] = {}
    for path, caption in rows:
        if caption:
            captions.setdefault(path, []).append(caption)
    for path, caps in captions.items():
        builder.add(path, captions=caps, fold=fold)


def _stem_index(folders: Sequence[Path]) -> dict[str, Path]:
    """Audio file stem -> path over the given folders (first folder wins)."""
    index: dict[str, Path] = {}
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() in AUDIO_EXTENSIONS:
                    index.setdefault(path.stem, path)
    return index


def _audiocaps_candidates(row: dict[str, str]) -> list[str]:
    """File stems that AudioCaps download tools use for one row."""
    ytid, start = row["youtube_id"], row["start_time"]
    start_int = str(int(float(start))) if start else ""
    return [
        f"{ytid}_{start_int}",
        f"{ytid}_{start}",
        f"Y{ytid}",
        ytid,
        row["audiocap_id"],
        f"Y{ytid}_{float(start or 0):.3f}_{float(start or 0) + 10:.3f}",
    ]


def _load_audiocaps_official(base: Path, splits: Sequence[str], builder: ItemBuilder) -> None:
    for split in splits:
        csv_path = first_existing(
            [base / f"{split}.csv", base / "dataset" / f"{split}.csv"],
            "audiocaps",
            f"the {split}.csv caption file",
        )
        rows = read_csv(csv_path, "audiocaps", ["audiocap_id", "youtube_id", "start_time", "caption"])
        index = _stem_index([base / "audio" / split, base / split, base / "audio", base])
        pairs = []
        for r in rows:
            found = next((index[s] for s in _audiocaps_candidates(r) if s in index), None)
            pairs.append(
                (found or base / "audio" / split / f"{r['youtube_id']}_{r['start_time']}.wav", r["caption"])
            )
        _group_captions(builder, pairs, split)


def load_audiocaps(
    root: PathLike, splits: Sequence[str] = ("test",), allow_missing: bool | None = None
) -> EvalDataset:
    """AudioCaps (Kim et al. 2019): AudioSet clips with human captions (5 per test clip).

    Official layout (captions from github.com/cdjkim/audiocaps, audio downloaded by the user)::

        root/<split>.csv     audiocap_id,youtube_id,start_time,caption   (split: train, val, test)
        root/audio/<split>/<youtube_id>_<start_time>.wav    also accepted: Y<youtube_id>.*, <youtube_id>.*,
                                                            <audiocap_id>.*, in audio/<split>/, <split>/,
                                                            audio/ or root/

    Shared-data layout (``../shared/data/audiocaps-demo``)::

        root/metadata.csv    filename,caption,audiocap_id,youtube_id,start_s   (filename relative to root)

    One item per clip with all its captions; fold is the split ("demo" for the shared layout).
    Missing clips are listed in ``missing`` for the official layout (YouTube downloads are rarely
    complete) and raise for the shared one, unless ``allow_missing`` says otherwise.
    """
    name = "audiocaps"
    base = require_root(root, name)
    builder = ItemBuilder(name, "retrieval")
    shared = base / "metadata.csv"
    if shared.is_file():
        rows = read_csv(shared, name, ["filename", "caption"])
        _group_captions(builder, [(base / r["filename"], r["caption"]) for r in rows], "demo")
        return builder.build(base, bool(allow_missing))
    _load_audiocaps_official(base, splits, builder)
    return builder.build(base, True if allow_missing is None else allow_missing)


CLOTHO_SPLITS = ("development", "validation", "evaluation")


def load_clotho(root: PathLike, splits: Sequence[str] = ("evaluation",)) -> EvalDataset:
    """Clotho v2 (Drossos et al. 2020): 15-30 s clips with 5 captions each.

    Layout of the Zenodo release::

        root/clotho_captions_<split>.csv   file_name,caption_1,...,caption_5
        root/<split>/<file_name>           (also root/clotho_audio_<split>/<file_name>)

    with split in development, validation, evaluation. Fold is the split.
    """
    name = "clotho"
    base = require_root(root, name)
    bad = [s for s in splits if s not in CLOTHO_SPLITS]
    if bad or not splits:
        raise ValueError(f"{name}: splits must be drawn from {list(CLOTHO_SPLITS)}, got {list(splits)}")
    builder = ItemBuilder(name, "retrieval")
    for split in splits:
        rows = read_csv(base / f"clotho_captions_{split}.csv", name, ["file_name", "caption_1"])
        audio_dir = first_existing(
            [base / split, base / f"clotho_audio_{split}"], name, f"the {split} audio folder"
        )
        for r in rows:
            caps = [r[k] for k in sorted(r) if k.startswith("caption_") and r[k]]
            if not caps:
                raise DatasetLayoutError(
                    f"{name}: {r['file_name']} has no caption in clotho_captions_{split}.csv"
                )
            builder.add(audio_dir / r["file_name"], captions=caps, fold=split)
    return builder.build(base)
