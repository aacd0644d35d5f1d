"""Validation during training: retrieval R@1/5/10 and mAP@10 on a captioned set (every distinct caption
of every clip; ``openclap.retrieval``) and zero-shot accuracy on a labelled set (first label of each clip,
classes = the labels present; ``openclap.zero_shot``).

The validation clips are decoded once and kept in memory. A clip longer than the model's clip length is
embedded as the mean over consecutive windows (``long_audio="mean"``, what ``openclap embed`` and
``classify`` do), so checkpoints are chosen on what users will run; ``long_audio="crop"`` takes the
config's deterministic crop instead. Evaluation draws no random numbers and does not disturb a
resumable run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from openclap.audio.io import AudioError, load_mono
from openclap.data.cache import AudioCache
from openclap.data.manifest import ManifestEntry
from openclap.inference import embed_audio, embed_texts
from openclap.metrics import accuracy
from openclap.model import ClapModel
from openclap.retrieval import rank_relevant, retrieval_metrics
from openclap.zero_shot import ZeroShotClassifier


@dataclass
class EvalClips:
    """Decoded validation clips (mono, at the model's rate) with their texts."""

    paths: list[str] = field(default_factory=list)
    waves: list[np.ndarray] = field(default_factory=list)
    captions: list[tuple[str, ...]] = field(default_factory=list)
    labels: list[tuple[str, ...]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def load_eval_clips(
    entries: Sequence[ManifestEntry], sample_rate: int, cache_dir: str | None = None
) -> EvalClips:
    """Decode every clip once; bad clips are skipped and listed."""
    cache = AudioCache(cache_dir, sample_rate) if cache_dir else None
    clips = EvalClips()
    for entry in entries:
        try:
            wave = cache.load(entry.audio) if cache else load_mono(entry.audio, sample_rate)
        except AudioError as err:
            clips.skipped.append((entry.audio, err.problem))
            continue
        clips.paths.append(entry.audio)
        clips.waves.append(wave)
        clips.captions.append(entry.captions)
        clips.labels.append(entry.labels)
    return clips


def caption_relevance(
    captions: Sequence[Sequence[str]],
) -> tuple[list[str], list[list[int]], list[list[int]]]:
    """Unique caption texts, the clips each text describes, and the texts of each clip.

    Datasets built from labels repeat captions ("a person saying the digit seven"); a repeated text is
    one query relevant to every clip it describes, so identical texts do not count as wrong answers.
    With unique captions this is the usual AudioCaps / Clotho protocol.
    """
    index: dict[str, int] = {}
    clips_of_text: list[list[int]] = []
    texts_of_clip: list[list[int]] = []
    for clip, caps in enumerate(captions):
        mine: list[int] = []
        for caption in caps:
            if caption not in index:
                index[caption] = len(index)
                clips_of_text.append([])
            text = index[caption]
            if text not in mine:
                mine.append(text)
                clips_of_text[text].append(clip)
        texts_of_clip.append(mine)
    return list(index), clips_of_text, texts_of_clip


def retrieval_scores(
    model: ClapModel, clips: EvalClips, audio_emb: np.ndarray, batch_size: int
) -> dict[str, float]:
    """Text-to-audio and audio-to-text R@1/5/10, mAP@10 and their mean R@1."""
    texts, clips_of_text, texts_of_clip = caption_relevance(clips.captions)
    text_emb = embed_texts(model, texts, batch_size=batch_size)
    results = {
        "t2a": retrieval_metrics(rank_relevant(text_emb, audio_emb, clips_of_text)),
        "a2t": retrieval_metrics(rank_relevant(audio_emb, text_emb, texts_of_clip)),
    }
    out: dict[str, float] = {}
    for short, metrics in results.items():
        out.update({f"{short}_r1": metrics.r1, f"{short}_r5": metrics.r5, f"{short}_r10": metrics.r10})
        out[f"{short}_map10"] = metrics.map10
    out["mean_r1"] = (out["t2a_r1"] + out["a2t_r1"]) / 2
    return out


def zero_shot_scores(
    model: ClapModel, labels: Sequence[str], audio_emb: np.ndarray, templates: Sequence[str] | None = None
) -> dict[str, float]:
    """Single-label zero-shot accuracy over the classes present in ``labels``, with ``templates``
    (default: the model's prompt templates)."""
    classes = sorted(set(labels))
    classifier = ZeroShotClassifier(model, classes, templates=templates)
    predicted = classifier.predict_proba(audio_emb).argmax(axis=1)
    truth = np.array([classes.index(label) for label in labels])
    return {"zs_acc": accuracy(truth, predicted), "zs_classes": float(len(classes))}


class Evaluator:
    """Scores a model on a retrieval set and (optionally) a zero-shot set; keys are ``val/...``."""

    def __init__(
        self,
        retrieval: EvalClips | None,
        zero_shot: EvalClips | None,
        templates: Sequence[str] | None = None,
        batch_size: int = 32,
        long_audio: str = "mean",
    ) -> None:
        self.retrieval = retrieval if retrieval and retrieval.paths else None
        labelled = zero_shot and [i for i, labels in enumerate(zero_shot.labels) if labels]
        self.zero_shot = _subset(zero_shot, labelled) if zero_shot and labelled else None
        self.templates = list(templates) if templates else None
        self.batch_size = batch_size
        self.long_audio = long_audio

    def _audio(self, model: ClapModel, clips: EvalClips, memo: dict[str, np.ndarray]) -> np.ndarray:
        """Audio embeddings [N, D]; clips already embedded in this call (``memo``) are reused."""
        todo = [i for i, path in enumerate(clips.paths) if path not in memo]
        if todo:
            rate = model.config.audio.sample_rate
            waves = [clips.waves[i] for i in todo]
            emb = embed_audio(model, waves, rate, batch_size=self.batch_size, long_audio=self.long_audio)
            memo.update({clips.paths[i]: row for i, row in zip(todo, emb, strict=True)})
        return np.stack([memo[path] for path in clips.paths])

    @torch.no_grad()
    def __call__(self, model: ClapModel) -> dict[str, float]:
        was_training = model.training
        model.eval()
        try:
            out: dict[str, float] = {}
            memo: dict[str, np.ndarray] = {}
            if self.retrieval is not None:
                emb = self._audio(model, self.retrieval, memo)
                out.update(retrieval_scores(model, self.retrieval, emb, self.batch_size))
            if self.zero_shot is not None:
                emb = self._audio(model, self.zero_shot, memo)
                labels = [labels[0] for labels in self.zero_shot.labels]
                out.update(zero_shot_scores(model, labels, emb, self.templates))
            return {f"val/{k}": v for k, v in out.items()}
        finally:
            model.train(was_training)


def _subset(clips: EvalClips, keep: Sequence[int]) -> EvalClips:
    return EvalClips(
        paths=[clips.paths[i] for i in keep],
        waves=[clips.waves[i] for i in keep],
        captions=[clips.captions[i] for i in keep],
        labels=[clips.labels[i] for i in keep],
        skipped=clips.skipped,
    )
