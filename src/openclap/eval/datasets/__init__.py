"""Benchmark adapters by name: ``get_dataset(name, root, **options)`` and ``list_datasets()``.

Each adapter reads a benchmark's official folder layout (documented in its docstring) from a local
root; nothing is downloaded.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from openclap.eval.datasets.base import (
    DatasetLayoutError,
    EvalDataset,
    EvalItem,
    PathLike,
    Task,
)
from openclap.eval.datasets.captions import load_audiocaps, load_clotho
from openclap.eval.datasets.generic import load_csv_dataset
from openclap.eval.datasets.instruments import load_nsynth, load_philharmonia
from openclap.eval.datasets.music import (
    load_beijing_opera,
    load_gtzan_genres,
    load_gtzan_music_speech,
    load_mridangam_stroke,
    load_mridangam_tonic,
)
from openclap.eval.datasets.scenes import load_tut2017
from openclap.eval.datasets.sound_events import load_esc50, load_sesa, load_urbansound8k, load_vocalsound
from openclap.eval.datasets.speech import (
    load_crema_d,
    load_fsdd,
    load_libricount,
    load_ravdess,
    load_speech_commands,
)
from openclap.eval.datasets.tagging import load_dcase2017_task4, load_fsd50k

__all__ = [
    "DatasetLayoutError",
    "DatasetSpec",
    "EvalDataset",
    "EvalItem",
    "Task",
    "get_dataset",
    "list_datasets",
]


@dataclass(frozen=True)
class DatasetSpec:
    """A registered adapter: canonical name, loader, what it is, other accepted names."""

    name: str
    loader: Callable[..., EvalDataset]
    summary: str
    aliases: tuple[str, ...] = ()


_SPECS: tuple[DatasetSpec, ...] = (
    DatasetSpec("esc50", load_esc50, "ESC-50 environmental sounds, 50 classes, 5 folds", ("esc-50",)),
    DatasetSpec("urbansound8k", load_urbansound8k, "UrbanSound8K, 10 classes, 10 folds", ("us8k",)),
    DatasetSpec("fsd50k", load_fsd50k, "FSD50K, 200 classes, multi-label"),
    DatasetSpec(
        "dcase2017-task4", load_dcase2017_task4, "DCASE 2017 task 4, 17 classes, multi-label", ("dcase2017",)
    ),
    DatasetSpec(
        "tut2017",
        load_tut2017,
        "TUT Acoustic Scenes 2017, 15 scenes, 4 folds + evaluation",
        ("tut-acoustic-scenes-2017",),
    ),
    DatasetSpec("gtzan-genres", load_gtzan_genres, "GTZAN music genres, 10 classes", ("gtzan",)),
    DatasetSpec("gtzan-music-speech", load_gtzan_music_speech, "GTZAN music/speech, 2 classes"),
    DatasetSpec("mridangam-stroke", load_mridangam_stroke, "Mridangam strokes, 10 classes"),
    DatasetSpec("mridangam-tonic", load_mridangam_tonic, "Mridangam tonics, 6 classes"),
    DatasetSpec("beijing-opera", load_beijing_opera, "Beijing Opera percussion, 4 instruments"),
    DatasetSpec("crema-d", load_crema_d, "CREMA-D emotions, 6 classes", ("cremad",)),
    DatasetSpec("ravdess", load_ravdess, "RAVDESS emotions, 8 classes"),
    DatasetSpec("vocalsound", load_vocalsound, "VocalSound, 6 vocal sounds"),
    DatasetSpec("sesa", load_sesa, "SESA surveillance sounds, 4 classes"),
    DatasetSpec("libricount", load_libricount, "LibriCount speaker count, 11 classes"),
    DatasetSpec("speech-commands", load_speech_commands, "Speech Commands keywords", ("speechcommands",)),
    DatasetSpec("fsdd", load_fsdd, "Free Spoken Digit Dataset, 10 digits"),
    DatasetSpec("philharmonia", load_philharmonia, "Philharmonia orchestra samples, instruments"),
    DatasetSpec("nsynth", load_nsynth, "NSynth instrument families, 11 classes"),
    DatasetSpec("audiocaps", load_audiocaps, "AudioCaps captions (retrieval)"),
    DatasetSpec("clotho", load_clotho, "Clotho captions (retrieval)"),
    DatasetSpec("csv", load_csv_dataset, "any CSV of path,label(s) or path,caption"),
)
_BY_NAME: dict[str, DatasetSpec] = {alias: s for s in _SPECS for alias in (s.name, *s.aliases)}


def list_datasets() -> list[str]:
    """Canonical names of every registered adapter."""
    return [spec.name for spec in _SPECS]


def dataset_spec(name: str) -> DatasetSpec:
    """The adapter registered under ``name`` (or an alias); unknown names list the valid ones."""
    key = name.strip().lower().replace("_", "-")
    if key not in _BY_NAME:
        raise KeyError(f"unknown dataset {name!r}; choose one of {list_datasets()}")
    return _BY_NAME[key]


def get_dataset(
    name: str,
    root: PathLike,
    /,
    folds: Iterable[str | int] | None = None,
    min_class_count: int | None = None,
    **options: Any,
) -> EvalDataset:
    """Load a registered dataset from ``root``.

    ``options`` go to the adapter (see its docstring; an option it does not take is a ``ValueError``
    listing those it does); ``folds`` keeps only those folds/splits; ``min_class_count`` drops classes
    with fewer items (after the fold filter) and re-indexes. ``name`` and ``root`` are positional, so
    an adapter's own ``name`` option (the generic CSV's) can be passed here.
    """
    spec = dataset_spec(name)
    accepted = adapter_options(spec)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"dataset {spec.name!r} does not take option(s) {unknown}; it takes "
            f"{[*accepted, 'folds', 'min_class_count']}"
        )
    dataset = spec.loader(root, **options)
    if folds is not None:
        dataset = dataset.filter_folds(folds)
    if min_class_count is not None:
        dataset = dataset.drop_rare_classes(min_class_count)
    return dataset


def adapter_options(spec: DatasetSpec) -> list[str]:
    """The keyword options an adapter's loader takes (all but ``root``)."""
    params = list(inspect.signature(spec.loader).parameters.values())[1:]
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
