"""Supervised fine-tuning protocol: the audio tower plus a linear classification head, trained per split.

For every outer split (the linear probe's: leave-one-fold-out, official train/test, stratified k-fold,
or k-fold grouped by a metadata key; see ``openclap.eval.linear_probe.make_splits``):

1. the audio tower (front end + audio encoder) is deep-copied from the model, which is never modified;
2. a linear head is added on the **pooled audio-encoder features** (``head_input="features"``, the
   default: the usual fine-tuning input, e.g. PANNs / HTS-AT, and independent of the contrastive
   projection's bottleneck), or on the un-normalised projected embedding (``head_input="embedding"``,
   which keeps and trains the audio projection too). The head starts at zero, so it draws no random
   numbers;
3. it is trained for ``epochs`` passes with cross-entropy (single-label) or binary cross-entropy
   (multi-label), AdamW without weight decay on norms and biases (``openclap.optim``: ``lr`` for the
   head, ``encoder_lr`` for the tower), linear warm-up then cosine decay, gradient clipping
   (``optimizer_step``, the trainer's step); augmentation: the model's training window of each decoded
   file (``AudioPreprocessor.window``: a random crop of the clip length; a fusion model keeps a long
   file whole and draws its chunks), a random gain, then the model's own preparation (int16
   quantisation where configured) and optional SpecAugment masks (``SpecAugmentConfig``, shared with
   the trainer); the lowest ``freeze_encoder_layers`` blocks of the encoder (``-1``: all of it, i.e. a
   head trained on augmented crops) stay frozen, in eval mode (``openclap.freeze``, as the trainer's);
4. the held-out part is scored deterministically: the model's own clip policy (its start / centre crop
   and padding, or fusion) and, with ``long_audio="mean"`` (the default of ``EmbedOptions``), the
   logits of consecutive windows of a long file averaged (inference's window loop). Accuracy
   (single-label, with a confusion matrix of every held-out prediction) or macro mAP (multi-label) per
   split, then mean and standard deviation (population) over the splits, the linear probe's result
   shape.

Every file is decoded once (mono, at the model's sample rate) and kept in memory for all splits and
epochs; files that fail to decode are left out and reported. Randomness comes from ``seed`` only: data
order, crops, gains and masks from ``torch.Generator`` objects seeded by ``(seed, split, epoch/step)``,
and dropout from the global generator reseeded per step inside ``torch.random.fork_rng`` (the caller's
random state is left as it was), so the same call gives the same numbers (bit-identical on CPU; on a GPU
only as far as its kernels are deterministic).

``options.batch_size`` (``openclap eval --batch-size``) is the evaluation batch; ``batch_size`` here is
the training batch.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from openclap import metrics
from openclap.audio.augment import SpecAugmentConfig, random_gain
from openclap.audio.encoders import audio_blocks
from openclap.audio.fusion import FusionBatch
from openclap.audio.io import AudioError
from openclap.audio.preprocess import stack_waves, unstack_waves
from openclap.config import AudioFrontendConfig
from openclap.eval.datasets.base import EvalDataset
from openclap.eval.embedding import EmbedOptions
from openclap.eval.linear_probe import Split, make_splits
from openclap.eval.results import EvalResult
from openclap.freeze import KeepsFrozenInEval, lock, lowest_blocks
from openclap.model import MelAugment, audio_tower_features
from openclap.optim import WarmupCosine, grouped_params, optimizer_step
from openclap.seeding import derive_seed, seeded_generator

if TYPE_CHECKING:
    from openclap.model import ClapModel

HEAD_INPUTS: tuple[str, ...] = ("features", "embedding")


@dataclass(frozen=True)
class FinetuneConfig(SpecAugmentConfig):
    """Training settings of one fine-tuning run (the same for every split); the SpecAugment fields
    (``time_masks``, ``time_mask_frames``, ``freq_masks``, ``freq_mask_bins``) are ``SpecAugmentConfig``'s.

    ``warmup`` is the warm-up length as a fraction of all optimiser steps of a split; ``min_lr_ratio``
    the cosine floor. ``freeze_encoder_layers``: how many of the encoder's lowest blocks stay frozen
    (``openclap.audio.encoders.audio_blocks``), ``-1`` for the whole encoder. ``freeze_batchnorm``: every
    batch norm of the encoder stays in eval mode (its running statistics normalise; its scale and shift
    still train), as ``freeze.batchnorm`` in a training config: for small batches, and for towers stored
    with their batch norms folded (the default model).
    """

    epochs: int = 10
    lr: float = 1e-3
    encoder_lr: float = 1e-4
    batch_size: int = 32
    weight_decay: float = 0.01
    warmup: float = 0.1
    min_lr_ratio: float = 0.0
    clip_grad_norm: float | None = 1.0
    random_crop: bool = True
    gain_db: float = 3.0
    freeze_encoder_layers: int = 0
    freeze_batchnorm: bool = False
    head_input: str = "features"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (BatchNorm needs 2 clips), got {self.batch_size}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup is a fraction of the steps in [0, 1), got {self.warmup}")
        if self.head_input not in HEAD_INPUTS:
            raise ValueError(
                f"head_input={self.head_input!r} is not valid; choose one of {list(HEAD_INPUTS)}"
            )
        if self.freeze_encoder_layers < -1:
            raise ValueError(f"freeze_encoder_layers must be >= -1, got {self.freeze_encoder_layers}")

    @classmethod
    def from_options(cls, **options: Any) -> FinetuneConfig:
        """Settings from loose values (a benchmark YAML, the CLI): numbers are coerced to each field's
        type, and an unknown name is an error that lists the valid ones."""
        types = {f.name: str(f.type) for f in fields(cls)}
        unknown = sorted(set(options) - set(types))
        if unknown:
            raise ValueError(f"unknown fine-tuning setting(s) {unknown}; valid: {sorted(types)}")
        values = {}
        for name, value in options.items():
            try:
                values[name] = _coerce(value, types[name])
            except ValueError as err:
                raise ValueError(f"fine-tuning setting {name}: {err}") from None
        return cls(**values)


_COERCE: dict[str, Callable[[Any], Any]] = {"int": int, "float": float, "bool": bool, "str": str}


def _coerce(value: Any, type_name: str) -> Any:
    """``value`` as the dataclass field type named ``type_name`` (``X | None`` keeps None)."""
    base, _, optional = type_name.partition(" | ")
    if value is None and optional == "None":
        return None
    if base == "bool" and not isinstance(value, (bool, int)):
        raise ValueError(f"expected true or false, got {value!r}")  # bool("false") would be True
    return _COERCE[base](value)


class AudioClassifier(KeepsFrozenInEval):
    """A copy of a model's audio tower with a linear head: waveform [B, N] (or a ``FusionBatch``) ->
    logits [B, C]. The source model is not touched (its modules are deep-copied). Modules listed in
    ``frozen`` stay in eval mode."""

    def __init__(self, model: ClapModel, n_classes: int, head_input: str = "features") -> None:
        super().__init__()
        if head_input not in HEAD_INPUTS:
            raise ValueError(f"head_input={head_input!r} is not valid; choose one of {list(HEAD_INPUTS)}")
        self.audio_config: AudioFrontendConfig = model.config.audio
        self.frontend = copy.deepcopy(model.frontend)
        self.audio_encoder = copy.deepcopy(model.audio_encoder)
        self.audio_projection = copy.deepcopy(model.audio_projection) if head_input == "embedding" else None
        dim = model.config.projection.dim if head_input == "embedding" else int(self.audio_encoder.out_dim)
        self.head = nn.Linear(dim, n_classes)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        for param in self.parameters():
            param.requires_grad_(True)

    def features(
        self, wave: torch.Tensor | FusionBatch, mel_augment: MelAugment | None = None
    ) -> torch.Tensor:
        """Pooled audio-encoder features [B, D_audio]: the model's audio forward (``audio_tower_features``)
        on the copy; ``mel_augment`` edits the log-mel (SpecAugment) before the encoder."""
        return audio_tower_features(self.frontend, self.audio_encoder, self.audio_config, wave, mel_augment)

    def freeze_lowest(self, layers: int) -> None:
        """Lock the encoder's lowest ``layers`` blocks (``-1``: all of it) and keep them in eval mode."""
        encoder = self.audio_encoder
        blocks = lambda: audio_blocks(encoder)  # noqa: E731
        self.frozen = lowest_blocks(encoder, blocks, layers, "freeze_encoder_layers", whole=-1)
        lock(self.frozen)

    def forward(
        self, wave: torch.Tensor | FusionBatch, mel_augment: MelAugment | None = None
    ) -> torch.Tensor:
        x = self.features(wave, mel_augment)
        if self.audio_projection is not None:
            x = self.audio_projection(x)
        return self.head(x)


@dataclass
class DecodedAudio:
    """The dataset items that decoded, their mono waveforms at the model's rate, and the failures."""

    dataset: EvalDataset
    waves: list[NDArray[np.float32]]
    errors: list[tuple[str, str]]
    seconds: float


def decode_dataset(
    dataset: EvalDataset, sample_rate: int, progress: bool = False, workers: int | None = None
) -> DecodedAudio:
    """Decode every file once (downmixed, resampled; ``workers`` files at once, see
    ``inference.decoded_files``); undecodable files are dropped and listed."""
    from openclap.inference import decoded_files

    start = time.perf_counter()
    waves: list[NDArray[np.float32]] = []
    kept: list[int] = []
    errors: list[tuple[str, str]] = []
    items: Iterable[tuple[str, NDArray[np.float32] | AudioError]] = decoded_files(
        dataset.paths, sample_rate, workers
    )
    if progress:
        from tqdm import tqdm

        items = tqdm(items, total=len(dataset.paths), desc="decoding", unit="file")
    for i, (path, wave) in enumerate(items):
        if isinstance(wave, AudioError):
            errors.append((path, wave.problem))
            continue
        waves.append(np.ascontiguousarray(wave, dtype=np.float32))
        kept.append(i)
    if not waves:
        shown = "; ".join(f"{p}: {m}" for p, m in errors[:3])
        raise ValueError(f"{dataset.name}: no audio file could be decoded ({shown})")
    return DecodedAudio(dataset.select(kept), waves, errors, time.perf_counter() - start)


def _batches(order: list[int], batch_size: int) -> list[list[int]]:
    """Consecutive batches of ``order``; a trailing batch of one joins the previous one (BatchNorm)."""
    out = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if len(out) > 1 and len(out[-1]) < 2:
        out[-2] += out.pop()
    return out


def _param_group(name: str, config: FinetuneConfig) -> tuple[str, float]:
    return ("head", config.lr) if name.startswith("head.") else ("encoder", config.encoder_lr)


class _Trainer:
    """Trains one ``AudioClassifier`` on one split's training items."""

    def __init__(
        self,
        model: ClapModel,
        waves: Sequence[NDArray[np.float32]],
        targets: torch.Tensor,
        multi_label: bool,
        config: FinetuneConfig,
        device: torch.device,
    ) -> None:
        self.model, self.waves, self.targets = model, waves, targets
        self.multi_label, self.config, self.device = multi_label, config, device

    def _train_batch(
        self, items: list[int], gen: torch.Generator
    ) -> tuple[torch.Tensor | FusionBatch, torch.Tensor]:
        """The model's training window of each clip (``AudioPreprocessor.window``), a random gain, then
        the model's own preparation (quantisation, fusion input with drawn chunks)."""
        cfg, pre = self.config, self.model.preprocess
        clips = [pre.window(torch.from_numpy(self.waves[i]), gen, cfg.random_crop)[0] for i in items]
        wave, lengths = stack_waves(clips)
        wave = random_gain(wave, cfg.gain_db, gen)
        rng = int(torch.randint(2**31, (1,), generator=gen)) if pre.fusion else None
        prepared = pre.prepare(unstack_waves(wave, lengths), rng).to(self.device)
        return prepared, self.targets[items].to(self.device)

    def train(
        self, split: Split, n_classes: int, tick: Callable[[float], None]
    ) -> tuple[AudioClassifier, float]:
        """The trained network and the mean training loss of its last epoch."""
        cfg, name = self.config, split.name
        net = AudioClassifier(self.model, n_classes, cfg.head_input).to(self.device)
        net.freeze_lowest(cfg.freeze_encoder_layers)
        if cfg.freeze_batchnorm:  # eval mode only (not locked): KeepsFrozenInEval keeps them there
            net.frozen += [
                m for m in net.audio_encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
            ]
        optimizer = torch.optim.AdamW(grouped_params(net, lambda n: _param_group(n, cfg), cfg.weight_decay))
        train_items = split.train.tolist()
        per_epoch = len(_batches(train_items, cfg.batch_size))
        total = cfg.epochs * per_epoch
        schedule = WarmupCosine(total, round(cfg.warmup * total), cfg.min_lr_ratio)
        loss_fn: nn.Module = nn.BCEWithLogitsLoss() if self.multi_label else nn.CrossEntropyLoss()
        step, last_losses = 0, []
        for epoch in range(cfg.epochs):
            net.train()
            perm = torch.randperm(
                len(train_items), generator=seeded_generator(cfg.seed, "ft-order", name, epoch)
            )
            last_losses = []
            for batch in _batches([train_items[i] for i in perm.tolist()], cfg.batch_size):
                torch.manual_seed(derive_seed(cfg.seed, "ft-dropout", name, step))
                gen = seeded_generator(cfg.seed, "ft-augment", name, step)
                schedule.apply(optimizer, step)
                wave, target = self._train_batch(batch, gen)
                loss = loss_fn(net(wave, cfg.masker(gen)), target)
                if not torch.isfinite(loss):
                    raise RuntimeError(f"split {name!r}: non-finite loss {float(loss)} at step {step + 1}")
                loss.backward()
                optimizer_step(optimizer, net.parameters(), cfg.clip_grad_norm)
                last_losses.append(float(loss.detach()))
                step += 1
                tick(last_losses[-1])
        net.eval()
        return net, float(np.mean(last_losses))


def predict_logits(
    net: AudioClassifier,
    model: ClapModel,
    waves: Sequence[NDArray[np.float32]],
    items: Sequence[int],
    long_audio: str = "mean",
    batch_size: int = 16,
) -> NDArray[np.float32]:
    """Logits [len(items), C] of the held-out items, averaged over the windows of long files (inference's
    window loop, ``openclap.inference.windowed_means``)."""
    from openclap.inference import windowed_means

    net.eval()
    device = next(net.parameters()).device
    pairs = ((row, waves[i]) for row, i in enumerate(items))
    means = windowed_means(model, pairs, lambda b: net(b).double().cpu(), batch_size, long_audio, device)
    return torch.stack([means[row] for row in range(len(items))]).float().numpy()


def _progress(total: int, enabled: bool) -> tuple[Callable[[float], None], Callable[[], None]]:
    if not enabled:
        return (lambda _loss: None), (lambda: None)
    from tqdm import tqdm

    bar = tqdm(total=total, desc="finetune", unit="step", dynamic_ncols=True)

    def tick(loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}")

    return tick, bar.close


def _rng_guard(device: torch.device) -> Any:
    """Keep the caller's global random state: dropout reseeds the global generator per step."""
    devices = [device] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices) if device.type in ("cpu", "cuda") else nullcontext()


def finetune_splits(
    model: ClapModel,
    decoded: DecodedAudio,
    splits: Sequence[Split],
    config: FinetuneConfig,
    long_audio: str = "mean",
    eval_batch_size: int = 16,
    progress: bool = False,
) -> dict[str, Any]:
    """Fine-tune and score every split; a result body (metrics, per-split values, confusion matrix)."""
    dataset = decoded.dataset
    multi = dataset.task == "multi-label"
    if dataset.task not in ("single-label", "multi-label"):
        raise ValueError(f"{dataset.name} is a {dataset.task} dataset; fine-tuning needs class labels")
    n_classes = len(dataset.class_names)
    labels = dataset.label_matrix()
    targets = torch.from_numpy(labels.astype(np.float32)) if multi else torch.from_numpy(dataset.targets())
    device = model.logit_scale.device
    trainer = _Trainer(model, decoded.waves, targets, multi, config, device)
    steps = sum(config.epochs * len(_batches(s.train.tolist(), config.batch_size)) for s in splits)
    tick, close = _progress(steps, progress)
    scores = np.full((len(dataset), n_classes), np.nan, dtype=np.float32)
    per_split: dict[str, float] = {}
    losses: dict[str, float] = {}
    try:
        with _rng_guard(device):
            for split in splits:
                if not multi and len(np.unique(targets.numpy()[split.train])) < 2:
                    raise ValueError(f"split {split.name!r}: the training part has fewer than 2 classes")
                net, losses[split.name] = trainer.train(split, n_classes, tick)
                test = split.test.tolist()
                logits = predict_logits(net, model, decoded.waves, test, long_audio, eval_batch_size)
                scores[split.test] = logits
                if multi:
                    per_split[split.name] = metrics.mean_average_precision(labels[split.test], logits)
                else:
                    per_split[split.name] = metrics.accuracy(
                        targets.numpy()[split.test], logits.argmax(axis=1)
                    )
                del net
    finally:
        close()
    values = np.array(list(per_split.values()), dtype=np.float64)
    tested = ~np.isnan(scores).any(axis=1)
    body: dict[str, Any] = {"fold_loss": losses, "class_names": list(dataset.class_names)}
    if multi:
        auc = metrics.mean_roc_auc(labels[tested], scores[tested])
        body["metrics"] = {
            "mAP": float(np.nanmean(values)),
            "mAP_std": float(np.nanstd(values)),
            "pooled_mAP": metrics.mean_average_precision(labels[tested], scores[tested]),
            "mean_auc": auc,
        }
        body["fold_mAP"] = per_split
        return body
    y, pred = targets.numpy()[tested], scores[tested].argmax(axis=1)
    body["metrics"] = {"accuracy": float(values.mean()), "accuracy_std": float(values.std())}
    body["fold_accuracy"] = per_split
    body["confusion_matrix"] = metrics.confusion_matrix(y, pred, n_classes).tolist()
    body["per_class_accuracy"] = metrics.per_class_accuracy(y, pred, n_classes).tolist()
    return body


def run_finetune(
    model: ClapModel,
    dataset: EvalDataset,
    split: str = "auto",
    group_key: str | None = None,
    n_splits: int = 5,
    train_folds: Sequence[str] | None = None,
    test_folds: Sequence[str] | None = None,
    options: EmbedOptions | None = None,
    task: str | None = None,
    **settings: Any,
) -> EvalResult:
    """Fine-tune ``model``'s audio tower with a classification head on each split of ``dataset``.

    Splits as the linear probe's (``split``, ``group_key``, ``n_splits``, ``train_folds``, ``test_folds``;
    multi-label ``cv`` is unstratified; the split seed is the training ``seed``). ``settings`` are
    ``FinetuneConfig``'s fields (``epochs=5, lr=1e-3, ...``; coerced and checked by
    ``FinetuneConfig.from_options``). ``options`` gives the evaluation batch size, ``long_audio`` and
    the progress bars. Headline: mean accuracy (single-label) or mean macro mAP (multi-label) over the
    splits. ``model`` itself is left unchanged.
    """
    start = time.perf_counter()
    config = FinetuneConfig.from_options(**settings)
    seed = config.seed
    if dataset.task == "retrieval":
        raise ValueError(f"{dataset.name} is a retrieval dataset; fine-tuning needs class labels")
    opts = options or EmbedOptions()
    decoded = decode_dataset(dataset, model.config.audio.sample_rate, opts.progress, opts.workers)
    kept = decoded.dataset
    description, splits = make_splits(kept, split, group_key, n_splits, train_folds, test_folds, seed)
    body = finetune_splits(model, decoded, splits, config, opts.long_audio, opts.batch_size, opts.progress)
    headline = "mAP" if kept.task == "multi-label" else "accuracy"
    return EvalResult.create(
        dataset.name,
        "finetune",
        headline,
        len(kept),
        start,
        task or f"{dataset.name} ({len(kept)} clips)",
        {"splits": description},
        body,
        {"n_failed": len(decoded.errors), "errors": [f"{p}: {m}" for p, m in decoded.errors[:5]]},
        config=asdict(config),
        decode_seconds=round(decoded.seconds, 3),
    )
