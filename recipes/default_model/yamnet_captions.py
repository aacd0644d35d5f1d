"""Pseudo-captions from YAMNet: what the AudioSet tagger hears, in the AudioSet ontology's words.

Pure logic (no audio, no torch), used by ``prepare_data.py`` when ``OUT/yamnet_teacher.npz`` holds a clip's
scores (``yamnet_teacher.py --extracted`` scores every extracted clip, named or not):

- ``load_classes`` joins YAMNet's class map (score order, AudioSet ids) with the AudioSet ontology
  (github ``audioset/ontology``, ``ontology.json``, CC BY-SA 4.0: names, synonyms, descriptions and the
  class tree). Without the ontology the class map's display names are used alone (no descriptions, no tree).
- ``confident`` keeps the classes scoring at least the threshold, drops uninformative ones (silence,
  rooms, generic noise, the ontology's blacklisted and abstract classes), drops a class whose descendant is
  also confident (the more specific word wins: "bark" over "dog" over "animal"), and keeps the best two.
- ``yamnet_captions`` writes captions from those classes: noun phrases from the names and one caption from
  the ontology's description. ``merge_captions`` keeps the file-name captions first (the stronger signal)
  and appends YAMNet's (prepare_data passes only the classes its name confirms, see ``agrees``); a clip
  with no usable name gets YAMNet's alone, unless all it hears is speech or music (game voice lines and
  music loops, which the corpus leaves out).
- ``choose_threshold`` picks the threshold on the corpus's own validation split: on the val clips that have
  a file-name description, the threshold that maximises agreeing minus disagreeing clips, where a clip
  agrees when a word of a confident class (or of its ancestors) occurs in its file-name captions.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

THRESHOLDS: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
DEFAULT_THRESHOLD = 0.2  # replaced by choose_threshold's pick (see the recipe README)
MAX_CLASSES = 2
EXCLUDED_NAMES = frozenset(
    {
        "Silence", "Sound effect", "Inside, small room", "Inside, large room or hall", "Inside, public space",
        "Outside, urban or manmade", "Outside, rural or natural", "Field recording", "Static", "Echo",
        "Reverberation", "Noise", "Environmental noise", "Cacophony", "Sidetone", "Harmonic", "Hum",
        "Mains hum", "Distortion", "Sine wave", "Chirp tone", "Pulse", "Single-lens reflex camera",
    }
)  # fmt: skip
SPEECH_OR_MUSIC = ("/m/09x0r", "/m/04rlf")  # Speech, Music: with their descendants, not enough alone
ONTOLOGY_FILE = "ontology.json"
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class SoundClass:
    """One YAMNet output: AudioSet id, noun phrases (synonyms), description, ancestors' ids."""

    mid: str
    name: str
    phrases: tuple[str, ...]
    description: str = ""
    ancestors: frozenset[str] = frozenset()
    excluded: bool = False

    def words(self) -> set[str]:
        return {w for p in self.phrases for w in _WORD.findall(p.lower())}


def read_repo_file(repo: Path, rel: str, rev: str = "HEAD") -> bytes:
    """A file of a plain clone (``repo/rel``) or of a bare git directory (``git show REV:rel``)."""
    if (repo / rel).is_file():
        return (repo / rel).read_bytes()
    proc = subprocess.run(
        ["git", "--git-dir", str(repo), "show", f"{rev}:{rel}"], capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise FileNotFoundError(f"{repo}: no {rel} (neither a clone holding it nor a git dir)")
    return proc.stdout


def load_ontology(source: Path) -> dict[str, dict]:
    """The ontology's entries by id, from ``ontology.json`` itself, a clone, or a bare git dir."""
    raw = source.read_bytes() if source.is_file() else read_repo_file(source, ONTOLOGY_FILE)
    return {entry["id"]: entry for entry in json.loads(raw)}


def noun_phrases(display_name: str) -> tuple[str, ...]:
    """ "Burping, eructation" -> ("burping", "eructation"); "Fire engine, fire truck (siren)" ->
    ("siren fire engine", "siren fire truck")."""
    m = re.fullmatch(r"(.+?) \((.+)\)", display_name.strip())
    main, context = (m.group(1), m.group(2) + " ") if m else (display_name.strip(), "")
    return tuple(f"{context}{part.strip()}".lower() for part in main.split(", "))


def _parents(ontology: dict[str, dict]) -> dict[str, set[str]]:
    parents: dict[str, set[str]] = {}
    for mid, entry in ontology.items():
        for child in entry.get("child_ids", []):
            parents.setdefault(child, set()).add(mid)
    return parents


def _ancestors(mid: str, parents: dict[str, set[str]]) -> frozenset[str]:
    seen: set[str] = set()
    todo = list(parents.get(mid, ()))
    while todo:
        cur = todo.pop()
        if cur not in seen:
            seen.add(cur)
            todo.extend(parents.get(cur, ()))
    return frozenset(seen)


def _short_description(text: str) -> str:
    first = re.split(r"(?<=[a-z)])\. ", text.strip(), maxsplit=1)[0].rstrip(".")
    return first if 0 < len(first.split()) <= 20 else ""


def load_classes(class_map: Path, ontology: dict[str, dict] | None = None) -> list[SoundClass]:
    """YAMNet's 521 classes in score order, with the ontology's words where it is given."""
    with open(class_map, newline="") as fh:
        rows = list(csv.DictReader(fh))
    parents = _parents(ontology) if ontology else {}
    classes = []
    for row in rows:
        mid, name = row["mid"], row["display_name"]
        entry = (ontology or {}).get(mid, {})
        flagged = bool(set(entry.get("restrictions", [])) & {"blacklist", "abstract"})
        classes.append(
            SoundClass(
                mid=mid,
                name=name,
                phrases=noun_phrases(entry.get("name", name)),
                description=_short_description(entry.get("description", "")),
                ancestors=_ancestors(mid, parents),
                excluded=flagged or name in EXCLUDED_NAMES,
            )
        )
    return classes


def confident(scores: np.ndarray, classes: list[SoundClass], threshold: float) -> list[SoundClass]:
    """The informative classes scoring >= threshold, most specific first kept, best two, by score."""
    order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] >= threshold]
    picked = [classes[i] for i in order if not classes[i].excluded]
    ancestors = set().union(*(c.ancestors for c in picked)) if picked else set()
    return [c for c in picked if c.mid not in ancestors][:MAX_CLASSES]


def only_speech_or_music(found: list[SoundClass]) -> bool:
    return all(c.mid in SPEECH_OR_MUSIC or set(SPEECH_OR_MUSIC) & c.ancestors for c in found)


def yamnet_captions(found: list[SoundClass], key: str, n: int) -> list[str]:
    """``n`` distinct captions from confident classes (deterministic in ``key``)."""
    import captions as cap

    if not found:
        return []
    desc = cap.Description(
        phrases=[list(c.phrases) for c in found], labels=[c.phrases[0] for c in found], key=key
    )
    top = found[0]
    out = [f"{top.phrases[0]}: {top.description[0].lower()}{top.description[1:]}"] if top.description else []
    for text in cap.write_captions(desc, key, 3.0, n=n + 1):
        if len(out) < n and text.lower() not in {o.lower() for o in out}:
            out.append(text)
    return out[:n]


def merge_captions(name_caps: list[str], found: list[SoundClass], key: str, n: int = 5) -> list[str]:
    """File-name captions first (all but one slot), then YAMNet's; YAMNet's alone for unnamed clips."""
    if not name_caps:
        return yamnet_captions(found, key, n)
    extra = [c for c in yamnet_captions(found, key, 2) if c.lower() not in {x.lower() for x in name_caps}]
    keep = n - min(1, len(extra))
    return name_caps[:keep] + extra[: n - min(keep, len(name_caps))]


def agrees(found: list[SoundClass], text: str, by_mid: dict[str, SoundClass]) -> bool:
    """Does a word of a confident class, or of one of its ancestors, occur in ``text``?"""
    words = set(_WORD.findall(text.lower()))
    for c in found:
        related = [c, *(by_mid[a] for a in c.ancestors if a in by_mid)]
        if any(r.words() & words for r in related):
            return True
    return False


def choose_threshold(
    scores: np.ndarray, texts: list[str], classes: list[SoundClass], grid: tuple[float, ...] = THRESHOLDS
) -> tuple[float, list[dict[str, float]]]:
    """The threshold maximising agreeing minus disagreeing clips (ties: the higher threshold)."""
    by_mid = {c.mid: c for c in classes}
    table = []
    for t in grid:
        agree = disagree = 0
        for row, text in zip(scores, texts, strict=True):
            found = confident(row, classes, t)
            if found:
                agree, disagree = (
                    (agree + 1, disagree) if agrees(found, text, by_mid) else (agree, disagree + 1)
                )
        table.append({"threshold": t, "agree": agree, "disagree": disagree, "net": agree - disagree})
    best = max(table, key=lambda r: (r["net"], r["threshold"]))
    return float(best["threshold"]), table
