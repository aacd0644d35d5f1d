"""Zero-shot prompt templates and class-name cleaning per dataset, kept as data.

``clean_class_name`` turns an official label into words a text encoder reads naturally
('chirping_birds' -> 'chirping birds', 'Dog' -> 'dog'); ``CLASS_NAME_OVERRIDES`` replaces labels that
are codes or jargon ('ANG' -> 'anger'). Templates contain one '{}' for the cleaned class name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

DEFAULT_TEMPLATES: tuple[str, ...] = ("This is a sound of {}.",)

TEMPLATES: dict[str, tuple[str, ...]] = {
    "esc50": ("This is a sound of {}.",),
    "urbansound8k": ("This is a sound of {}.",),
    "fsd50k": ("This is a sound of {}.",),
    "dcase2017-task4": ("This is a sound of {}.",),
    "tut2017": ("This is a recording made in a {}.",),
    "gtzan-genres": ("This is {} music.",),
    "gtzan-music-speech": ("This is a recording of {}.",),
    "mridangam-stroke": ("This is the mridangam stroke {}.",),
    "mridangam-tonic": ("This is a mridangam stroke in the tonic {}.",),
    "beijing-opera": ("This is a sound of {}.",),
    "crema-d": ("This person is feeling {}.",),
    "ravdess": ("This person is feeling {}.",),
    "vocalsound": ("This is a sound of {}.",),
    "sesa": ("This is a sound of {}.",),
    "libricount": ("This is a sound of {} speaking.",),
    "speech-commands": ("This is a sound of a person saying '{}'.",),
    "fsdd": ("This is a sound of a person saying {}.",),
    "philharmonia": ("This is a sound of a {}.",),
    "nsynth": ("This is a sound of a {}.",),
}

_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

CLASS_NAME_OVERRIDES: dict[str, dict[str, str]] = {
    "tut2017": {"cafe/restaurant": "cafe or restaurant", "city_center": "city center", "home": "home"},
    "beijing-opera": {
        "bangu": "bangu clapper drum",
        "naobo": "naobo cymbals",
        "daluo": "daluo large gong",
        "xiaoluo": "xiaoluo small gong",
    },
    "crema-d": {
        "ANG": "anger",
        "DIS": "disgust",
        "FEA": "fear",
        "HAP": "happiness",
        "NEU": "neutral",
        "SAD": "sadness",
    },
    "vocalsound": {"throatclearing": "throat clearing"},
    "sesa": {"casual": "everyday casual sounds"},
    "libricount": {
        str(n): ("no one" if n == 0 else f"{word} {'person' if n == 1 else 'people'}")
        for n, word in enumerate(_NUMBER_WORDS)
    },
    "fsdd": {str(n): word for n, word in enumerate(_NUMBER_WORDS[:10])},
    "nsynth": {"synth_lead": "synthesizer lead"},
}

_ACRONYM = re.compile(r"^[A-Z0-9]{2,}$")


def clean_class_name(name: str, dataset: str | None = None) -> str:
    """Words for a class label: per-dataset override, else underscores to spaces and lower case.

    All-capital tokens (acronyms) keep their case; repeated spaces collapse.
    """
    override = CLASS_NAME_OVERRIDES.get(dataset or "", {}).get(name)
    if override is not None:
        return override
    words = re.sub(r"[_]+", " ", name).split()
    return " ".join(w if _ACRONYM.match(w) else w.lower() for w in words)


def templates_for(dataset: str | None) -> tuple[str, ...]:
    """The prompt templates of a registered dataset name, else ``DEFAULT_TEMPLATES``."""
    return TEMPLATES.get(dataset or "", DEFAULT_TEMPLATES)


def prompt_class_names(class_names: Sequence[str], dataset: str | None = None) -> list[str]:
    """Cleaned names for a class list; duplicates after cleaning get the original label appended."""
    cleaned = [clean_class_name(n, dataset) for n in class_names]
    seen: dict[str, int] = {}
    for c in cleaned:
        seen[c] = seen.get(c, 0) + 1
    return [c if seen[c] == 1 else f"{c} ({orig})" for c, orig in zip(cleaned, class_names, strict=True)]
