"""Single-label sound event datasets: ESC-50, UrbanSound8K, SESA, VocalSound."""

from __future__ import annotations

import json
import re
from pathlib import Path

from openclap.eval.datasets.base import (
    DatasetLayoutError,
    EvalDataset,
    ItemBuilder,
    PathLike,
    audio_files,
    class_names_from_ids,
    first_existing,
    read_csv,
    require,
    require_root,
)


def load_esc50(root: PathLike, esc10: bool = False, allow_missing: bool = False) -> EvalDataset:
    """ESC-50 (Piczak 2015): 2000 clips, 50 classes, official folds "1".."5".

    Official layout (github.com/karolpiczak/ESC-50)::

        root/meta/esc50.csv   filename,fold,target,category,esc10,src_file,take
        root/audio/<filename>

    Also the shared-data layout (``../shared/data/esc50-fold4``)::

        root/metadata.csv     filename,fold,target,category,esc10   (filename relative to root)

    ``esc10=True`` keeps the ESC-10 subset (10 classes, re-indexed in target order).
    """
    name = "esc50"
    base = require_root(root, name)
    official = base / "meta" / "esc50.csv"
    csv_path = first_existing([official, base / "metadata.csv"], name, "meta/esc50.csv (or metadata.csv)")
    rows = read_csv(csv_path, name, ["filename", "fold", "target", "category"])
    audio_dir = require(base / "audio", name, "the audio folder") if csv_path == official else base
    if esc10:
        if rows and "esc10" not in rows[0]:
            raise DatasetLayoutError(f"{name}: {csv_path} has no esc10 column")
        rows = [r for r in rows if r["esc10"].lower() == "true"]
    targets = sorted({int(r["target"]) for r in rows})
    remap = {t: i for i, t in enumerate(targets)}  # identity for the full set
    names = {int(r["target"]): r["category"] for r in rows}
    builder = ItemBuilder(
        name, "single-label", class_names_from_ids(((remap[t], names[t]) for t in targets), name)
    )
    for r in rows:
        builder.add(audio_dir / r["filename"], [remap[int(r["target"])]], fold=r["fold"])
    return builder.build(base, allow_missing)


def load_urbansound8k(root: PathLike, allow_missing: bool = False) -> EvalDataset:
    """UrbanSound8K (Salamon et al. 2014): 8732 clips, 10 classes, official folds "1".."10".

    Layout::

        root/metadata/UrbanSound8K.csv   slice_file_name,fsID,start,end,salience,fold,classID,class
        root/audio/fold<N>/<slice_file_name>
    """
    name = "urbansound8k"
    base = require_root(root, name)
    rows = read_csv(
        base / "metadata" / "UrbanSound8K.csv", name, ["slice_file_name", "fold", "classID", "class"]
    )
    require(base / "audio", name, "the audio folder (audio/fold1 ... audio/fold10)")
    classes = class_names_from_ids(((int(r["classID"]), r["class"]) for r in rows), name)
    builder = ItemBuilder(name, "single-label", classes)
    for r in rows:
        builder.add(
            base / "audio" / f"fold{r['fold']}" / r["slice_file_name"],
            [int(r["classID"])],
            fold=r["fold"],
            freesound_id=r.get("fsID", ""),
        )
    return builder.build(base, allow_missing)


SESA_CLASSES: tuple[str, ...] = ("casual", "gunshot", "explosion", "siren")
_SESA_ALIASES = {"alarm": "siren", "gun": "gunshot", "gunshots": "gunshot", "sirens": "siren"}


def _sesa_label(path: Path) -> str | None:
    for token in [path.parent.name, re.split(r"[^A-Za-z]+", path.stem)[0]]:
        word = _SESA_ALIASES.get(token.lower(), token.lower())
        if word in SESA_CLASSES:
            return word
    return None


def load_sesa(root: PathLike) -> EvalDataset:
    """SESA, Sound Events for Surveillance Applications (Spadini 2019, Zenodo): 4 classes
    0 casual, 1 gunshot, 2 explosion, 3 siren (which also holds alarms); splits "train" / "test".

    Layout of the release::

        root/train/<class>_<n>.wav
        root/test/<class>_<n>.wav

    The class is read from the file name's leading word (casual, gunshot, explosion, siren; 'alarm'
    counts as siren) or, failing that, from a class-named parent folder. Unlabelled files raise.
    """
    name = "sesa"
    base = require_root(root, name)
    builder = ItemBuilder(name, "single-label", SESA_CLASSES)
    for split in ("train", "test"):
        folder = require(base / split, name, f"the {split} folder")
        for path in audio_files(folder):
            label = _sesa_label(path)
            if label is None:
                raise DatasetLayoutError(
                    f"{name}: cannot tell the class of {path}; file names must start with "
                    f"one of {list(SESA_CLASSES)}"
                )
            builder.add(path, [SESA_CLASSES.index(label)], fold=split)
    return builder.build(base)


VOCALSOUND_CLASSES: tuple[str, ...] = ("laughter", "sigh", "cough", "throatclearing", "sneeze", "sniff")


def _vocalsound_splits(base: Path) -> dict[str, str]:
    """File name -> split from the release's datafiles/{tr,val,te}.json, when present."""
    splits: dict[str, str] = {}
    for split, fname in (("train", "tr.json"), ("validation", "val.json"), ("test", "te.json")):
        path = base / "datafiles" / fname
        if path.is_file():
            for entry in json.loads(path.read_text())["data"]:
                splits[Path(entry["wav"]).name] = split
    return splits


def load_vocalsound(root: PathLike) -> EvalDataset:
    """VocalSound (Gong et al. 2022): 21024 clips, 6 vocal sounds, speaker-disjoint splits.

    Layout of the release (``vs_release_16k.zip``)::

        root/audio_16k/<f|m><speaker>_<session>_<sound>.wav   e.g. f0003_0_cough.wav (or audio_44k/)
        root/datafiles/tr.json, val.json, te.json             optional: splits "train" / "validation" / "test"

    Without ``datafiles`` the fold is None; the speaker id is kept as metadata ``speaker``.
    """
    name = "vocalsound"
    base = require_root(root, name)
    audio_dir = first_existing([base / "audio_16k", base / "audio_44k"], name, "the audio folder")
    splits = _vocalsound_splits(base)
    builder = ItemBuilder(name, "single-label", VOCALSOUND_CLASSES)
    for path in audio_files(audio_dir):
        parts = path.stem.split("_")
        if len(parts) < 3 or parts[-1] not in VOCALSOUND_CLASSES:
            raise DatasetLayoutError(f"{name}: file name {path.name} is not <speaker>_<session>_<sound>")
        builder.add(path, [VOCALSOUND_CLASSES.index(parts[-1])], fold=splits.get(path.name), speaker=parts[0])
    return builder.build(base)
