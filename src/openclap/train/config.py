"""``TrainConfig``: every setting of a training run, loadable from YAML, saved next to its checkpoints.

Relative paths are relative to the working directory. Unknown keys are errors that list the valid ones.
``--set section.key=value`` overrides (YAML-parsed values) are applied on top of the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from openclap.audio.augment import SpecAugmentConfig

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class DataConfig:
    """Where the clips come from. ``train_shards`` (a shard folder / pattern) replaces the manifest."""

    train_manifest: str | None = None
    train_split: str | None = "train"
    train_shards: str | None = None
    val_manifest: str | None = None  # default: train_manifest
    val_split: str | None = "val"
    zero_shot_manifest: str | None = None  # default: the validation manifest and split
    zero_shot_split: str | None = None  # default: val_split
    zero_shot_template: str | None = None  # default: the model's prompt templates
    max_val_clips: int | None = None
    num_workers: int = 0
    cache_dir: str | None = None
    shuffle_buffer: int = 1000


@dataclass
class OptimConfig:
    """AdamW with per-tower learning rates; no weight decay on norms, biases and the logit scale."""

    lr: float = 1e-4  # projections and logit scale (and towers without their own lr)
    audio_lr: float | None = None
    text_lr: float | None = None
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0  # cosine floor as a fraction of each group's peak lr
    clip_grad_norm: float | None = 1.0
    grad_accum_steps: int = 1


@dataclass(frozen=True)
class AugmentConfig(SpecAugmentConfig):
    """Waveform augmentation (crop, gain, mixing two clips, reverberation, background noise) and
    SpecAugment masks on the log-mel (``time_masks``, ``time_mask_frames``, ``freq_masks``,
    ``freq_mask_bins``: ``SpecAugmentConfig``'s fields)."""

    random_crop: bool = True
    gain_db: float = 0.0  # uniform gain in [-gain_db, +gain_db]
    mix_prob: float = 0.0  # share of clips mixed with another clip of the batch (captions joined)
    mix_joiner: str = " and "
    reverb_prob: float = 0.0  # share of clips put in a synthetic room (caption unchanged)
    reverb_rt60: tuple[float, float] = (0.2, 1.2)  # seconds, uniform
    noise_prob: float = 0.0  # share of clips given coloured background noise (caption unchanged)
    noise_snr_db: tuple[float, float] = (5.0, 30.0)  # dB, uniform

    def __post_init__(self) -> None:
        for name in ("reverb_rt60", "noise_snr_db"):
            value = getattr(self, name)
            if not isinstance(value, list | tuple) or len(value) != 2 or float(value[0]) > float(value[1]):
                raise ValueError(f"augment.{name} must be [low, high] with low <= high, got {value!r}")
            object.__setattr__(self, name, (float(value[0]), float(value[1])))  # frozen
        if self.reverb_rt60[0] <= 0:
            raise ValueError(f"augment.reverb_rt60 must be positive seconds, got {list(self.reverb_rt60)}")
        for name in ("mix_prob", "reverb_prob", "noise_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"augment.{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass
class FreezeConfig:
    """Lock a tower (LiT: ``text: true``) or only its lowest ``*_layers`` blocks. ``batchnorm``: keep every
    BatchNorm layer in eval mode (running statistics fixed, scale and shift still trained), which makes
    gradient accumulation equal the larger batch exactly (``openclap.train.accum``)."""

    audio: bool = False
    text: bool = False
    audio_layers: int = 0
    text_layers: int = 0
    batchnorm: bool = False


@dataclass
class DistillConfig:
    """Optional distillation: a linear head from the pooled audio features to precomputed teacher
    embeddings (``teacher``: an .npz of ``paths`` and ``embeddings``), loss weighted by ``weight``.
    ``blocks`` (optional): an .npz of per-block teacher embeddings of long clips, so a crop's target is
    the blocks it overlaps (``openclap.train.distill``). ``semantic`` / ``semantic_blocks`` /
    ``semantic_weight``: targets in the model's own embedding space from a tagger's class weights
    (``openclap.train.semantic``); either kind works alone or both together."""

    teacher: str | None = None
    blocks: str | None = None
    weight: float = 1.0
    loss: str = "cosine"  # or "mse" (both on per-dimension standardised teacher embeddings)
    # text-space targets: an .npz of per-clip class weights [N, C] with ``class_texts`` [C]; a crop's
    # audio embedding is pulled towards the weighted mean of the class texts' embeddings
    semantic: str | None = None
    semantic_blocks: str | None = None
    semantic_weight: float = 1.0


@dataclass
class TrainConfig:
    output_dir: str = "runs/clap"
    model: str = "openclap-small"  # registered name or a JSON config file
    model_overrides: dict[str, Any] = field(default_factory=dict)
    init_checkpoint: str | None = None  # fine-tune from these weights
    init_from: str | None = None  # published model name, checkpoint or published file (train/init_from.py)
    init_towers: list[str] = field(default_factory=lambda: ["audio", "text"])  # what init_from supplies
    seed: int = 0
    batch_size: int = 32  # per rank and micro-step
    epochs: int = 1
    max_steps: int | None = None  # optimiser steps; overrides epochs
    precision: str = "fp32"
    device: str = "auto"
    threads: int | None = None
    local_loss: bool = False
    text_cache: int = 100_000  # with freeze.text: captions whose locked-tower features are kept (0: off)
    gather_with_grad: bool = True
    eval_every: int = 0  # optimiser steps; 0: only at the start and the end
    eval_at_start: bool = True
    eval_batch_size: int = 32
    best_metric: str = "val/mean_r1"
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    snapshot_every: int = 0  # also keep the model alone every N steps in snapshots/ (never pruned; 0: off)
    log_every: int = 10
    tensorboard: bool = True
    plot: bool = True
    progress: bool = True
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    freeze: FreezeConfig = field(default_factory=FreezeConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r} is not valid; choose one of {list(PRECISIONS)}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 for a contrastive loss, got {self.batch_size}")
        if self.optim.grad_accum_steps < 1:
            raise ValueError(f"optim.grad_accum_steps must be >= 1, got {self.optim.grad_accum_steps}")
        if self.snapshot_every < 0:
            raise ValueError(f"snapshot_every must be >= 0 (0 turns it off), got {self.snapshot_every}")
        if self.text_cache < 0:
            raise ValueError(f"text_cache must be >= 0 (0 turns it off), got {self.text_cache}")
        if self.init_from and self.init_checkpoint:
            raise ValueError("give init_from or init_checkpoint, not both")
        if self.init_from:
            from openclap.train.init_from import check_towers

            check_towers(list(self.init_towers))
        if not (self.data.train_manifest or self.data.train_shards):
            raise ValueError("data.train_manifest or data.train_shards is required")

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["optim"]["betas"] = list(self.optim.betas)
        for name in ("reverb_rt60", "noise_snr_db"):
            out["augment"][name] = list(getattr(self.augment, name))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _build(cls, data, "")


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "optim": OptimConfig,
    "augment": AugmentConfig,
    "freeze": FreezeConfig,
    "distill": DistillConfig,
}


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"'{where or 'config'}' must be a mapping, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} in '{where or 'config'}'; valid: {sorted(known)}")
    values = dict(data)
    for key, section in SECTIONS.items():
        if cls is TrainConfig and key in values:
            values[key] = _build(section, values[key] or {}, key)
    if cls is OptimConfig and "betas" in values:
        values["betas"] = tuple(float(b) for b in values["betas"])
    _check_types(cls, values, where)
    return cls(**values)


_SIMPLE_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
}


def _check_types(cls: type, values: dict[str, Any], where: str) -> None:
    """``ValueError`` naming the key for a value of the wrong type in a field typed ``int``, ``float``,
    ``bool`` or ``str`` (optionally ``| None``): ``--set max_steps=x`` fails here, not deep in training."""
    for f in dataclasses.fields(cls):
        parts = [part.strip() for part in str(f.type).split("|")]
        kinds = [part for part in parts if part != "None"]
        if f.name not in values or len(kinds) != 1 or kinds[0] not in _SIMPLE_TYPES:
            continue
        value = values[f.name]
        if value is None and "None" in parts:
            continue
        if kinds[0] == "float" and isinstance(value, str):  # YAML reads 1e-3 (no dot) as a string
            with contextlib.suppress(ValueError):
                values[f.name] = value = float(value)
        numeric_bool = isinstance(value, bool) and kinds[0] in ("int", "float")
        if numeric_bool or not isinstance(value, _SIMPLE_TYPES[kinds[0]]):
            allowed = kinds[0] + (" or null" if "None" in parts else "")
            raise ValueError(f"'{where + '.' if where else ''}{f.name}' must be {allowed}, got {value!r}")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` strings (values parsed as YAML) to a nested config dict."""
    data = dict(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} must look like key=value or section.key=value")
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            node[part] = dict(node.get(part) or {})
            node = node[part]
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def load_train_config(path: str | os.PathLike[str], overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML run file (see ``recipes/``) and apply ``overrides``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run config not found")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the run config must be a YAML mapping")
    return TrainConfig.from_dict(apply_overrides(data, overrides or []))


def dump_train_config(config: TrainConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
