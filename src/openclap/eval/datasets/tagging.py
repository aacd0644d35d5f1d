"""Multi-label sound tagging datasets: FSD50K and DCASE 2017 task 4."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from openclap.eval.datasets.base import (
    DatasetLayoutError,
    EvalDataset,
    ItemBuilder,
    PathLike,
    read_csv,
    require,
    require_root,
)

FSD50K_SUBSETS = ("dev", "eval")


def load_fsd50k(root: PathLike, subsets: Sequence[str] = FSD50K_SUBSETS) -> EvalDataset:
    """FSD50K (Fonseca et al. 2022): 51197 clips, 200 AudioSet classes, multi-label.

    Layout of the Zenodo release::

        root/FSD50K.ground_truth/vocabulary.csv   index,label,mid   (no header)
        root/FSD50K.ground_truth/dev.csv          fname,labels,mids,split   (labels comma-separated)
        root/FSD50K.ground_truth/eval.csv         fname,labels,mids
        root/FSD50K.dev_audio/<fname>.wav
        root/FSD50K.eval_audio/<fname>.wav

    Folds: "train" and "val" (the dev split column) and "eval". ``subsets`` picks dev and/or eval.
    """
    name = "fsd50k"
    base = require_root(root, name)
    bad = [s for s in subsets if s not in FSD50K_SUBSETS]
    if bad or not subsets:
        raise ValueError(f"{name}: subsets must be drawn from {list(FSD50K_SUBSETS)}, got {list(subsets)}")
    gt = require(base / "FSD50K.ground_truth", name, "the ground-truth folder")
    vocab = read_csv(gt / "vocabulary.csv", name, fieldnames=["index", "label", "mid"])
    classes = tuple(r["label"] for r in sorted(vocab, key=lambda r: int(r["index"])))
    index = {label: i for i, label in enumerate(classes)}
    builder = ItemBuilder(name, "multi-label", classes)
    for subset in subsets:
        rows = read_csv(gt / f"{subset}.csv", name, ["fname", "labels"])
        audio_dir = require(base / f"FSD50K.{subset}_audio", name, f"the {subset} audio folder")
        for r in rows:
            unknown = [lab for lab in r["labels"].split(",") if lab not in index]
            if unknown:
                raise DatasetLayoutError(
                    f"{name}: {subset}.csv uses labels {unknown} absent from vocabulary.csv"
                )
            fold = (r.get("split") or "train") if subset == "dev" else "eval"
            builder.add(
                audio_dir / f"{r['fname']}.wav",
                sorted({index[lab] for lab in r["labels"].split(",")}),
                fold=fold,
            )
    return builder.build(base)


DCASE2017_CLASSES: tuple[str, ...] = (
    "Train horn", "Air horn, truck horn", "Car alarm", "Reversing beeps", "Bicycle", "Skateboard",
    "Ambulance (siren)", "Fire engine, fire truck (siren)", "Civil defense siren", "Police car (siren)",
    "Screaming", "Car", "Car passing by", "Bus", "Truck", "Motorcycle", "Train",
)  # fmt: skip
_DCASE_SPLIT_LABELS = re.compile(r",(?! )")  # labels are comma-joined but some contain ", "


def _dcase_audio(folder: Path, stem: str) -> Path:
    """Clips are saved as 'Y<youtube id>_<start>_<end>.wav'; accept them without the 'Y' too."""
    with_y = folder / f"Y{stem}.wav"
    return with_y if with_y.exists() or not (folder / f"{stem}.wav").exists() else folder / f"{stem}.wav"


def _dcase_labels(labels: Sequence[str], csv_name: str) -> list[int]:
    unknown = [lab for lab in labels if lab not in DCASE2017_CLASSES]
    if unknown:
        raise DatasetLayoutError(f"dcase2017-task4: {csv_name} uses unknown labels {unknown}")
    return sorted({DCASE2017_CLASSES.index(lab) for lab in labels})


def load_dcase2017_task4(root: PathLike, allow_missing: bool = True) -> EvalDataset:
    """DCASE 2017 task 4, large-scale weakly supervised sound event detection for smart cars
    (AudioSet subset, 17 classes, multi-label clip tags). Folds "training", "testing", "evaluation".

    Layout (as in the task repository and the DCASE 2017 baseline code)::

        root/metadata/training_set.csv        ytid,start,end,"label[,label]",mids   (no header)
        root/metadata/testing_set.csv         same format
        root/metadata/groundtruth_weak_label_evaluation_set.csv
                                              <ytid>_<start>_<end>.wav<TAB>start<TAB>end<TAB>label (no header)
        root/{training,testing,evaluation}/Y<ytid>_<start>_<end>.wav

    Each metadata file is optional, but at least one must be present. Clips come from YouTube and
    are often incomplete, so missing audio files are listed in ``missing`` rather than raising.
    """
    name = "dcase2017-task4"
    base = require_root(root, name)
    meta = require(base / "metadata", name, "the metadata folder")
    builder = ItemBuilder(name, "multi-label", DCASE2017_CLASSES)
    found = False
    for split in ("training", "testing"):
        path = meta / f"{split}_set.csv"
        if not path.is_file():
            continue
        found = True
        for r in read_csv(path, name, fieldnames=["ytid", "start", "end", "labels", "mids"]):
            stem = f"{r['ytid']}_{r['start']}_{r['end']}"
            labels = _dcase_labels(_DCASE_SPLIT_LABELS.split(r["labels"]), path.name)
            builder.add(_dcase_audio(base / split, stem), labels, fold=split)
    eval_csv = meta / "groundtruth_weak_label_evaluation_set.csv"
    if eval_csv.is_file():
        found = True
        tags: dict[str, list[str]] = {}
        for r in read_csv(eval_csv, name, delimiter="\t", fieldnames=["fname", "start", "end", "label"]):
            tags.setdefault(Path(r["fname"]).stem, []).append(r["label"])
        for stem, labels in tags.items():
            builder.add(
                _dcase_audio(base / "evaluation", stem),
                _dcase_labels(labels, eval_csv.name),
                fold="evaluation",
            )
    if not found:
        raise DatasetLayoutError(
            f"{name}: no metadata in {meta}; expected training_set.csv, testing_set.csv "
            f"or groundtruth_weak_label_evaluation_set.csv"
        )
    return builder.build(base, allow_missing)
