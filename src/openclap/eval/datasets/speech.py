"""Speech datasets: CREMA-D, RAVDESS (emotion), LibriCount (speaker count), Speech Commands, FSDD."""

from __future__ import annotations

from pathlib import Path

from openclap.eval.datasets.base import (
    DatasetLayoutError,
    EvalDataset,
    ItemBuilder,
    PathLike,
    audio_files,
    read_csv,
    require,
    require_root,
)

CREMA_D_EMOTIONS: tuple[str, ...] = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")


def load_crema_d(root: PathLike) -> EvalDataset:
    """CREMA-D (Cao et al. 2014): 7442 clips of 91 actors, 6 emotions, no official folds.

    Layout of the release::

        root/AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav   e.g. 1001_DFA_ANG_XX.wav

    Emotion codes ANG, DIS, FEA, HAP, NEU, SAD. The actor is kept as metadata ``speaker``.
    """
    name = "crema-d"
    base = require_root(root, name)
    builder = ItemBuilder(name, "single-label", CREMA_D_EMOTIONS)
    for path in audio_files(require(base / "AudioWAV", name, "the AudioWAV folder")):
        parts = path.stem.split("_")
        if len(parts) != 4 or parts[2] not in CREMA_D_EMOTIONS:
            raise DatasetLayoutError(
                f"{name}: file name {path.name} is not <actor>_<sentence>_<emotion>_<level>"
            )
        builder.add(path, [CREMA_D_EMOTIONS.index(parts[2])], speaker=parts[0])
    return builder.build(base)


RAVDESS_EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
)


def load_ravdess(root: PathLike) -> EvalDataset:
    """RAVDESS (Livingstone & Russo 2018): 24 actors, 8 emotions, speech and song; no official folds.

    Layout of the audio-only release (``Audio_Speech_Actors_01-24.zip`` and/or the song zip)::

        root/[...]/Actor_<NN>/<modality>-<channel>-<emotion>-<intensity>-<statement>-<repetition>-<actor>.wav

    Emotion codes 01 neutral ... 08 surprised; channel 01 speech, 02 song. Metadata ``speaker``,
    ``channel`` and ``intensity`` are kept.
    """
    name = "ravdess"
    base = require_root(root, name)
    actors = sorted(p for p in base.rglob("Actor_*") if p.is_dir())
    if not actors:
        raise DatasetLayoutError(f"{name}: no Actor_<NN> folder under {base}")
    builder = ItemBuilder(name, "single-label", RAVDESS_EMOTIONS)
    for folder in actors:
        for path in audio_files(folder):
            code = path.stem.split("-")
            if len(code) != 7 or not code[2].isdigit() or not 1 <= int(code[2]) <= len(RAVDESS_EMOTIONS):
                raise DatasetLayoutError(f"{name}: file name {path.name} is not seven '-'-separated codes")
            builder.add(
                path,
                [int(code[2]) - 1],
                speaker=code[6],
                channel="speech" if code[1] == "01" else "song",
                intensity=code[3],
            )
    return builder.build(base)


def load_libricount(root: PathLike) -> EvalDataset:
    """LibriCount (Stöter et al. 2018): 5 s mixtures of 0 to 10 LibriSpeech talkers; no official folds.

    Layout of the Zenodo release (``LibriCount10-0dB.zip``)::

        root/test/<count>_<id>.wav   (each with a <count>_<id>.json of speaker activity; or root/*.wav)

    Classes "0" .. "10" (the speaker count, read from the file name prefix).
    """
    name = "libricount"
    base = require_root(root, name)
    folder = base / "test" if (base / "test").is_dir() else base
    classes = tuple(str(n) for n in range(11))
    builder = ItemBuilder(name, "single-label", classes)
    for path in audio_files(folder):
        count = path.stem.split("_")[0]
        if count not in classes:
            raise DatasetLayoutError(
                f"{name}: file name {path.name} does not start with a count 0-10 and '_'"
            )
        builder.add(path, [int(count)])
    return builder.build(base)


def _read_list(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def load_speech_commands(root: PathLike) -> EvalDataset:
    """Speech Commands (Warden 2018), v1 or v2: one folder per word; splits "train", "validation", "test".

    Layout of the release::

        root/<word>/<speaker>_nohash_<n>.wav
        root/validation_list.txt, root/testing_list.txt   lines '<word>/<file>.wav'
        root/_background_noise_/                         ignored

    Classes are all word folders (35 in v2), sorted. The speaker is kept as metadata ``speaker``.
    """
    name = "speech-commands"
    base = require_root(root, name)
    validation = _read_list(require(base / "validation_list.txt", name, "validation_list.txt"))
    testing = _read_list(require(base / "testing_list.txt", name, "testing_list.txt"))
    words = tuple(sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("_")))
    if not words:
        raise DatasetLayoutError(f"{name}: no word folders under {base}")
    builder = ItemBuilder(name, "single-label", words)
    for label, word in enumerate(words):
        for path in audio_files(base / word):
            rel = f"{word}/{path.name}"
            fold = "test" if rel in testing else "validation" if rel in validation else "train"
            builder.add(path, [label], fold=fold, speaker=path.stem.split("_nohash_")[0])
    return builder.build(base)


FSDD_DIGITS: tuple[str, ...] = tuple(str(d) for d in range(10))


def _fsdd_entry(builder: ItemBuilder, path: Path, stem: str) -> None:
    parts = stem.split("_")
    if len(parts) != 3 or parts[0] not in FSDD_DIGITS or not parts[2].isdigit():
        raise DatasetLayoutError(f"fsdd: file name {path.name} is not <digit>_<speaker>_<index>")
    fold = "test" if int(parts[2]) < 5 else "train"  # the official split: recordings 0-4 are the test set
    builder.add(path, [int(parts[0])], fold=fold, speaker=parts[1], index=parts[2])


def load_fsdd(root: PathLike) -> EvalDataset:
    """Free Spoken Digit Dataset: digits 0-9 spoken by several speakers.

    Official layout (github.com/Jakobovski/free-spoken-digit-dataset)::

        root/recordings/<digit>_<speaker>_<index>.wav

    Also the shared-data layout (``../shared/data/fsdd``)::

        root/metadata.csv   filename,digit,speaker   (filename relative to root)

    Fold is the official split ("test" for indices 0-4, else "train"); metadata ``speaker`` allows
    speaker-disjoint evaluation.
    """
    name = "fsdd"
    base = require_root(root, name)
    builder = ItemBuilder(name, "single-label", FSDD_DIGITS)
    csv_path = base / "metadata.csv"
    if csv_path.is_file():
        for r in read_csv(csv_path, name, ["filename", "digit", "speaker"]):
            path = base / r["filename"]
            _fsdd_entry(builder, path, path.stem)
    else:
        for path in audio_files(
            require(base / "recordings", name, "the recordings folder (or metadata.csv)")
        ):
            _fsdd_entry(builder, path, path.stem)
    return builder.build(base)
