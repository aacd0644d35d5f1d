"""``train(config)``: wires model, data, optimiser, loss, logging and checkpoints into ``TrainLoop``.

Runs as one process or under ``torchrun --nproc_per_node=N`` (DDP; gloo on CPU, NCCL on GPU): every rank
builds the same model from the same seed, reads its share of the data, and only rank 0 evaluates and
writes files.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from openclap.checkpoint import atomic_write, load_weights
from openclap.config import ClapConfig
from openclap.data.datasets import ClipDataset, ClipSettings, ShardStream
from openclap.data.manifest import read_manifest
from openclap.data.shards import resolve_shards
from openclap.distributed import DistInfo, backend, init_distributed, shutdown, wrap_ddp
from openclap.loss import ClapLoss
from openclap.model import ClapModel
from openclap.registry import get_config
from openclap.train.batches import ManifestBatches, ShardBatches, TrainBatches
from openclap.train.config import TrainConfig, dump_train_config
from openclap.train.distill import TeacherTargets, add_head_params, build_head, check_config
from openclap.train.evaluate import Evaluator, load_eval_clips
from openclap.train.freeze import apply_freeze, freeze_unused
from openclap.train.loop import LoopParts, StepCallback, TrainLoop
from openclap.train.module import TrainModule
from openclap.train.optim import WarmupCosine, build_optimizer
from openclap.train.semantic import SemanticTargets, check_semantic
from openclap.train.state import TrainState, latest_checkpoint, load_train_checkpoint
from openclap.train.text_cache import TEXT_CACHE_FILE, TextFeatureCache
from openclap.train.tracker import MetricsTracker


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    metrics: dict[str, float]
    best_metric: str
    best_value: float | None
    best_step: int | None
    final_checkpoint: Path
    model: ClapModel  # the trained model (identical on every rank)


# ----- model ------------------------------------------------------------------------------------------
def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def model_config(config: TrainConfig) -> ClapConfig:
    """The registered / JSON model config with ``model_overrides`` deep-merged into it."""
    base = get_config(config.model)
    return (
        ClapConfig.from_dict(_merge(base.to_dict(), config.model_overrides))
        if config.model_overrides
        else base
    )


def build_model(config: TrainConfig, device: torch.device) -> ClapModel:
    """Seeded construction, so every rank (and every resume) starts from identical weights."""
    torch.manual_seed(config.seed)
    model = ClapModel(model_config(config))
    if config.init_checkpoint:
        load_weights(model, config.init_checkpoint)
    if config.init_from:
        from openclap.train.init_from import load_towers

        load_towers(model, config.init_from, list(config.init_towers))
    return model.to(device).train()


# ----- data -------------------------------------------------------------------------------------------
def build_batches(config: TrainConfig, model: ClapModel, info: DistInfo) -> TrainBatches:
    data = config.data
    settings = ClipSettings.from_frontend(model.config.audio, config.seed, config.augment.random_crop)
    if data.train_shards:
        stream = ShardStream(
            resolve_shards(data.train_shards),
            settings,
            config.batch_size,
            info.rank,
            info.world_size,
            data.num_workers,
            data.shuffle_buffer,
        )
        return ShardBatches(stream, config.batch_size, data.num_workers)
    assert data.train_manifest is not None
    entries = read_manifest(data.train_manifest, split=data.train_split)
    dataset = ClipDataset(entries, settings, data.cache_dir)
    return ManifestBatches(
        dataset, config.batch_size, info.rank, info.world_size, config.seed, data.num_workers
    )


def build_evaluator(config: TrainConfig, model: ClapModel) -> Evaluator | None:
    data = config.data
    manifest = data.val_manifest or data.train_manifest
    if manifest is None or data.val_split is None:
        return None
    rate = model.config.audio.sample_rate
    entries = read_manifest(manifest, split=data.val_split)[: data.max_val_clips]
    retrieval = load_eval_clips(entries, rate, data.cache_dir)
    zs_manifest = data.zero_shot_manifest or manifest
    zs_split = data.zero_shot_split or data.val_split
    if (zs_manifest, zs_split) == (manifest, data.val_split):
        zero_shot = retrieval
    else:
        zero_shot = load_eval_clips(read_manifest(zs_manifest, split=zs_split)[: data.max_val_clips], rate)
    for path, problem in retrieval.skipped + (zero_shot.skipped if zero_shot is not retrieval else []):
        print(f"validation: skipped bad clip {path}: {problem}", file=sys.stderr)
    templates = [data.zero_shot_template] if data.zero_shot_template else None
    return Evaluator(retrieval, zero_shot, templates, config.eval_batch_size)


def build_text_cache(config: TrainConfig, model: ClapModel) -> TextFeatureCache | None:
    """Per-caption features when the whole text tower is locked (``freeze.text``) and ``text_cache`` > 0."""
    if not (config.freeze.text and config.text_cache):
        return None
    cache = TextFeatureCache(model, config.text_cache)
    cache.load(Path(config.output_dir) / TEXT_CACHE_FILE)  # a resumed run's captions (absent: empty)
    return cache


def total_steps(config: TrainConfig, batches: TrainBatches) -> int:
    if config.max_steps is not None:
        return config.max_steps
    accum = config.optim.grad_accum_steps
    return sum(batches.batches_per_epoch(e) // accum for e in range(config.epochs))


# ----- optimisation -----------------------------------------------------------------------------------
def build_scaler(config: TrainConfig, device: torch.device) -> Any:
    if config.precision == "fp16" and device.type != "cuda":
        raise ValueError("precision 'fp16' needs a CUDA device; use 'bf16' on CPU")
    return torch.amp.GradScaler("cuda", enabled=config.precision == "fp16")


def _probe_loss(module: TrainModule, device: torch.device) -> torch.Tensor:
    """A tiny forward pass (two silent clips) to find parameters the CLAP forward never uses. For a fusion
    model one clip is twice the clip length, so its fusion layers (used by long clips only) count."""
    model = module.model
    samples = model.config.audio.clip_samples
    wave = torch.zeros(2, 2 * samples, device=device)
    long = 2 if model.preprocess.fusion else 1
    lengths = torch.tensor([samples, long * samples], device=device)
    tokens = {k: v.to(device) for k, v in model.tokenize(["probe one", "probe two"]).items()}
    out = module(wave, tokens, 0, lengths)
    return sum((value.float().sum() for value in out.values()), torch.zeros((), device=device))


def prepare_module(
    config: TrainConfig,
    model: ClapModel,
    device: torch.device,
    verbose: bool = True,
    teacher: TeacherTargets | None = None,
    semantic: SemanticTargets | None = None,
) -> TrainModule:
    frozen = apply_freeze(model, config.freeze)
    head = build_head(model.audio_encoder.out_dim, teacher.dim).to(device) if teacher is not None else None
    features = None
    if semantic is not None:
        features = semantic.class_features(model, model.config.prompt_templates or ["{}"])
    module = TrainModule(model, config.augment, frozen, head, features)
    unused = freeze_unused(module, lambda: _probe_loss(module, device))
    if unused and verbose:
        print(f"not trained (no gradient in the CLAP forward): {', '.join(unused)}", file=sys.stderr)
    return module.train()


# ----- output folder ----------------------------------------------------------------------------------
def _resume_state(
    config: TrainConfig,
    resume: bool,
    model: ClapModel,
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    aux: torch.nn.Module | None = None,
) -> TrainState:
    root = Path(config.output_dir) / "checkpoints"
    folder = latest_checkpoint(root)
    if folder is None:
        if resume:
            print(f"--resume: no checkpoint in {root}; starting a new run", file=sys.stderr)
        return TrainState()
    if not resume:
        raise ValueError(
            f"{config.output_dir} already holds a run ({folder.name}); pass --resume to continue it "
            "or choose another output_dir"
        )
    state, _ = load_train_checkpoint(folder, model, optimizer, scaler, aux)
    print(f"resuming from {folder} (step {state.step}, epoch {state.epoch})", file=sys.stderr)
    return state


def _write_run_files(config: TrainConfig, info: DistInfo, device: torch.device) -> None:
    out = Path(config.output_dir)
    text = dump_train_config(config)
    atomic_write(out / "run.yaml", lambda p: p.write_text(text))
    env: dict[str, Any] = {
        "world_size": info.world_size,
        "backend": backend(),
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    atomic_write(out / "environment.json", lambda p: p.write_text(json.dumps(env, indent=1) + "\n"))


# ----- entry point ------------------------------------------------------------------------------------
def train(config: TrainConfig, resume: bool = False, callbacks: Sequence[StepCallback] = ()) -> TrainResult:
    """Train (or fine-tune) a CLAP model as configured; see ``TrainConfig`` and ``recipes/``. torch's
    intra-op thread count is ``config.threads`` (where set) while it runs and the caller's again after."""
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        # the tokenizer runs before data-loader workers fork; keep its thread pool out of the children
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        launched_here = not torch.distributed.is_initialized()
        info, device = init_distributed(config.device)
        try:
            return _train(config, resume, list(callbacks), info, device)
        finally:
            if launched_here:
                shutdown()
    finally:
        torch.set_num_threads(threads)


def _train(
    config: TrainConfig, resume: bool, callbacks: list[StepCallback], info: DistInfo, device: torch.device
) -> TrainResult:
    # targets read and checked before the model is built
    teacher: TeacherTargets | None = None
    semantic: SemanticTargets | None = None
    if config.distill.teacher:
        check_config(config.distill)
        teacher = TeacherTargets(config.distill.teacher, config.distill.blocks)
    if config.distill.semantic:
        check_semantic(config)
        semantic = SemanticTargets(config.distill.semantic, config.distill.semantic_blocks)
    model = build_model(config, device)
    module = prepare_module(config, model, device, verbose=info.is_main, teacher=teacher, semantic=semantic)
    optimizer = build_optimizer(model, config.optim)
    if module.distill_head is not None:
        add_head_params(optimizer, module.distill_head, config.optim)
    scaler = build_scaler(config, device)
    state = _resume_state(config, resume, model, optimizer, scaler, module.distill_head)
    batches = build_batches(config, model, info)
    steps = total_steps(config, batches)
    if info.is_main:
        Path(config.output_dir).mkdir(parents=True, exist_ok=True)
        _write_run_files(config, info, device)
    tracker = MetricsTracker(config.output_dir, info.is_main, config.tensorboard, resume_step=state.step)
    parts = LoopParts(
        config=config,
        info=info,
        device=device,
        model=model,
        module=wrap_ddp(module, device),
        optimizer=optimizer,
        schedule=WarmupCosine(steps, config.optim.warmup_steps, config.optim.min_lr_ratio),
        scaler=scaler,
        loss_fn=ClapLoss(config.local_loss, config.gather_with_grad),
        data=batches,
        tracker=tracker,
        evaluator=build_evaluator(config, model) if info.is_main else None,
        total_steps=steps,
        state=state,
        callbacks=callbacks,
        teacher=teacher,
        semantic=semantic,
        text_cache=build_text_cache(config, model),
    )
    try:
        metrics = TrainLoop(parts).run()
    finally:
        tracker.close()
    out = Path(config.output_dir)
    return TrainResult(
        out, state.step, metrics, config.best_metric, state.best_value, state.best_step, out / "final", model
    )
