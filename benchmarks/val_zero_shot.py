"""Zero-shot accuracy of checkpoints on a manifest's validation split, both ways of embedding long clips.

The data recipe's val split (recipes/default_model) is what chooses the default model's settings;
this scores any checkpoints on it side by side, with the model's prompt templates (or ``--template``),
embedding each clip as the mean over clip-length windows (what ``openclap embed`` / ``classify`` do)
and as one centre crop. Classes are the first labels present in the split, as in training.

``--template-set`` (repeatable) scores each checkpoint once per prompt set, templates separated by
``|`` (``--template-set "{}|{} sound" --template-set "this is a sound of {}"``): how a model's
prompt ensemble is chosen without touching the held-out sets.

``--bootstrap N`` (with ``--conditions``) adds, for every checkpoint after the first, the difference of
its robust score from the first checkpoint's with a 95 % paired bootstrap interval over the clips
(N resamples, seeded): whether a difference is larger than the split's sampling noise.

``--knn`` adds a probe-like score that needs no text: leave-one-out nearest-neighbour accuracy (cosine)
of the clean window-mean embeddings, over the clips whose label occurs at least twice in the split.

``--teacher-fit OUT/teacher.npz`` adds a probe-like score tied to the distillation teacher (the recipe's
``teacher.py`` output): ridge regression (lambda 1, intercept) from the clean window-mean embeddings of every
3rd train-split clip to the teacher's per-dimension-standardised embeddings, scored on the split as the mean
cosine (x 100) between predicted and true teacher vectors: how much of the teacher, which probes far better
than the students, the embedding holds linearly on clips it never trained on. With ``--bootstrap`` it also
gets a paired interval against the first checkpoint.

``--conditions`` also scores the split degraded the way field recordings differ from clean sound
effects, with ``openclap.audio.augment`` at fixed settings (seeded, the same for every checkpoint):
``noiseS`` adds coloured noise at S dB SNR, ``reverbT`` puts each clip in a synthetic room with an
RT60 of T seconds (direct-to-reverberant ratio 3 dB). Window means only.

Usage: .venv/bin/python benchmarks/val_zero_shot.py --manifest /work/openclap-data/manifest.jsonl \
           --checkpoints src/openclap/weights/openclap-yamnet.safetensors runs/default_model_v5/best \
           [--conditions noise20 noise10 reverb0.4 reverb1.0]
"""

from __future__ import annotations

import argparse
import re

import numpy as np
import torch

from openclap import create_model
from openclap.audio.augment import add_noise, add_reverb
from openclap.audio.io import load_mono
from openclap.checkpoint import CheckpointError, read_config
from openclap.config import ClapConfig
from openclap.data.manifest import ManifestError, read_manifest
from openclap.inference import embed_audio
from openclap.registry import get_config
from openclap.zero_shot import ZeroShotClassifier

CONDITION = re.compile(r"^(noise|reverb)(\d+(?:\.\d+)?)$")


def degrade(waves: list[np.ndarray], condition: str, sample_rate: int) -> list[np.ndarray]:
    """The clips under ``condition`` (``noise20``, ``reverb0.4``, ...), seeded: the same every run."""
    match = CONDITION.match(condition)
    if match is None:
        raise SystemExit(f"unknown condition {condition!r}: use noiseSNR_DB or reverbRT60_SECONDS")
    kind, value = match.group(1), float(match.group(2))
    gen = torch.Generator().manual_seed(0)
    out = []
    for wave in waves:
        batch = torch.from_numpy(wave)[None]
        if kind == "noise":
            batch = add_noise(batch, 1.0, (value, value), gen)
        else:
            batch = add_reverb(batch, 1.0, (value, value), sample_rate, gen, direct_to_reverb_db=(3.0, 3.0))
        out.append(batch[0].numpy())
    return out


def _configs(models: list[str] | None, checkpoints: list[str]) -> list[ClapConfig]:
    """One config per checkpoint: ``--model``'s (one for all or one each), else each checkpoint's own."""
    try:
        if models is None:
            return [read_config(checkpoint) for checkpoint in checkpoints]
        names = models * len(checkpoints) if len(models) == 1 else models
        return [get_config(name) for name in names]
    except (CheckpointError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--checkpoints", nargs="+", required=True, help="openclap checkpoints")
    parser.add_argument(
        "--model",
        nargs="+",
        default=None,
        help="config to load them with: one for all, or one per checkpoint (same sample rate); "
        "default: each checkpoint's own embedded config",
    )
    parser.add_argument("--template", action="append", help="prompt template(s); default: the model's")
    parser.add_argument(
        "--template-set",
        action="append",
        default=[],
        help="a prompt set to compare, templates joined by '|'; repeatable (overrides --template)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--conditions", nargs="*", default=[], help="noiseSNR / reverbRT60, e.g. noise20 reverb0.4"
    )
    parser.add_argument(
        "--bootstrap", type=int, default=0, help="paired bootstrap resamples for robust-score differences"
    )
    parser.add_argument(
        "--knn", action="store_true", help="leave-one-out nearest-neighbour accuracy of the clean embeddings"
    )
    parser.add_argument(
        "--teacher-fit", metavar="NPZ", help="score how much of the teacher's embedding each model holds"
    )
    args = parser.parse_args()
    if args.bootstrap and not (args.conditions or args.teacher_fit):
        raise SystemExit("--bootstrap needs --conditions or --teacher-fit (it compares their scores)")
    if args.model is not None and len(args.model) not in (1, len(args.checkpoints)):
        raise SystemExit(f"--model: give one config or one per checkpoint ({len(args.checkpoints)})")
    template_sets = [_parse_set(text) for text in args.template_set] or [args.template]
    torch.set_num_threads(args.threads)
    try:
        entries = [e for e in read_manifest(args.manifest, split=args.split) if e.labels]
    except ManifestError as err:
        raise SystemExit(f"error: {err}") from None
    labels = [e.labels[0] for e in entries]
    classes = sorted(set(labels))
    truth = np.array([classes.index(label) for label in labels])
    print(f"{len(entries)} clips, {len(classes)} classes (chance {100 / len(classes):.1f} %)")
    # decoded and degraded once (seeded, at the one rate all configs share), then embedded by every checkpoint
    configs = _configs(args.model, args.checkpoints)
    rates = {config.audio.sample_rate for config in configs}
    if len(rates) > 1:
        raise SystemExit(f"--model: the configs' sample rates differ ({sorted(rates)}); score them apart")
    rate = rates.pop()
    clean = [load_mono(e.audio, rate) for e in entries]
    fit = _teacher_targets(args.manifest, args.teacher_fit, entries, rate) if args.teacher_fit else None
    inputs = [("window mean", clean, "mean"), ("centre crop", clean, "crop")]
    inputs += [(condition, degrade(clean, condition, rate), "mean") for condition in args.conditions]
    reference: dict[int, np.ndarray] = {}  # template set -> per-clip robust score of the first checkpoint
    fit_reference: np.ndarray | None = None
    for checkpoint, config in zip(args.checkpoints, configs, strict=True):
        try:
            model = create_model(config, checkpoint=checkpoint)
        except CheckpointError as err:
            raise SystemExit(f"error: {err}") from None
        embedded = [embed_audio(model, waves, rate, long_audio=policy) for _, waves, policy in inputs]
        if args.knn:
            hits_1nn, counted = knn_hits(embedded[0], truth)
            print(f"{checkpoint}: leave-one-out 1-NN {100 * hits_1nn.mean():.1f} % over {counted} clips")
        if fit is not None:
            fit_waves, fit_targets, val_targets, known = fit
            fit_emb = embed_audio(model, fit_waves, rate, long_audio="mean")
            cosines = teacher_fit(fit_emb, fit_targets, embedded[0][known], val_targets)
            line = f"{checkpoint}: teacher fit {cosines.mean():.2f} over {len(cosines)} clips"
            if args.bootstrap and fit_reference is not None:
                line += _versus_first(cosines, fit_reference, args.bootstrap)
            fit_reference = cosines if fit_reference is None else fit_reference
            print(line, flush=True)
        for index, templates in enumerate(template_sets):
            clf = ZeroShotClassifier(model, classes, templates=templates)
            hits = [clf.similarity(emb).argmax(axis=1) == truth for emb in embedded]
            correct = np.stack(hits).astype(float)
            scores = [100 * float(row.mean()) for row in correct]
            parts = [f"{name} {score:.1f} %" for (name, _, _), score in zip(inputs, scores, strict=True)]
            line = f"{checkpoint}: " + ", ".join(parts)
            if args.conditions:
                per_clip = 100 * (correct[0] + correct[2:].mean(axis=0)) / 2  # its mean: the robust score
                robust = per_clip.mean()
                line += f" (mean of the conditions {np.mean(scores[2:]):.1f} %, robust score {robust:.2f})"
            if args.template_set:
                line += f" prompts {' | '.join(templates)}"
            if args.bootstrap and args.conditions:
                if index in reference:
                    line += _versus_first(per_clip, reference[index], args.bootstrap)
                else:
                    reference[index] = per_clip
            print(line, flush=True)


def knn_hits(embeddings: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, int]:
    """Whether each clip's nearest other clip (cosine) shares its label, for labels seen twice or more."""
    norm = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    sim = norm @ norm.T
    np.fill_diagonal(sim, -np.inf)
    counts = np.bincount(truth)
    keep = counts[truth] >= 2
    nearest = sim.argmax(axis=1)
    hits = truth[nearest][keep] == truth[keep]
    return hits.astype(float), int(keep.sum())


def teacher_fit(
    fit_x: np.ndarray, fit_t: np.ndarray, x: np.ndarray, t: np.ndarray, lam: float = 1.0
) -> np.ndarray:
    """Per-clip cosine (x 100) between teacher vectors ``t`` and their ridge prediction from embeddings ``x``.

    The map is fitted on ``fit_x`` -> ``fit_t``; teacher vectors are standardised per dimension with the fit
    set's mean and standard deviation, as the distillation loss does.
    """
    mean, std = fit_t.mean(axis=0), fit_t.std(axis=0) + 1e-8
    target, truth = (fit_t - mean) / std, (t - mean) / std  # the fit targets have mean 0: no intercept term
    centre = fit_x.mean(axis=0)
    xc = fit_x - centre
    weights = np.linalg.solve(xc.T @ xc + lam * np.eye(xc.shape[1]), xc.T @ target)
    pred = (x - centre) @ weights
    cos = (pred * truth).sum(axis=1) / (np.linalg.norm(pred, axis=1) * np.linalg.norm(truth, axis=1) + 1e-12)
    return 100 * cos


def _teacher_targets(
    manifest: str, npz: str, entries: list, rate: int
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Every 3rd train clip and its teacher vector, the split's teacher vectors and which clips have one."""
    data = np.load(npz)
    index = {str(path): i for i, path in enumerate(data["paths"])}
    vectors = data["embeddings"].astype(np.float64)
    train = [e for e in read_manifest(manifest, split="train") if str(e.audio) in index][::3]
    known = np.array([str(e.audio) in index for e in entries])
    if not known.all():
        print(f"teacher fit: {int((~known).sum())} clips of the split have no teacher vector: left out")
    waves = [load_mono(e.audio, rate) for e in train]
    fit_t = vectors[[index[str(e.audio)] for e in train]]
    val_t = vectors[[index[str(e.audio)] for e, ok in zip(entries, known, strict=True) if ok]]
    print(f"teacher fit: fitted on {len(train)} train clips, scored on {int(known.sum())}")
    return waves, fit_t, val_t, known


def paired_interval(a: np.ndarray, b: np.ndarray, resamples: int, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of mean(a - b) over clips resampled with replacement (seeded)."""
    rng = np.random.default_rng(seed)
    diff = a - b
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def _versus_first(scores: np.ndarray, first: np.ndarray, resamples: int) -> str:
    """The mean per-clip difference from the first checkpoint, with its paired bootstrap interval."""
    low, high = paired_interval(scores, first, resamples)
    diff = scores.mean() - first.mean()
    return f"; minus the first: {diff:+.2f} (95 % interval {low:+.2f} to {high:+.2f})"


def _parse_set(text: str) -> list[str]:
    templates = [t.strip() for t in text.split("|") if t.strip()]
    bad = [t for t in templates if "{}" not in t]
    if not templates or bad:
        raise SystemExit(f"--template-set {text!r}: every template needs a {{}} for the label")
    return templates


if __name__ == "__main__":
    main()
