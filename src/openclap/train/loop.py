"""The training loop: micro-steps with gradient accumulation over the whole accumulated batch
(``openclap.train.accum``), the optimiser step, logging, evaluation, best-model selection and checkpoints.

Randomness: dropout reseeds the global generator from ``(seed, step, micro-step, rank)`` before every
forward pass, and augmentation draws from generators seeded by ``(seed, step, micro-step, rank)``; with the
data order and crops seeded per epoch and per clip, a resumed run replays exactly what the killed one
would have done.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from openclap.distributed import (
    DistInfo,
    all_reduce_sum,
    barrier,
    broadcast_object,
    broadcast_tensors,
)
from openclap.loss import ClapLoss, clamp_logit_scales_
from openclap.model import ClapModel
from openclap.optim import optimizer_step
from openclap.seeding import derive_seed, seeded_generator
from openclap.train.accum import Micro, cache_embeddings, splice
from openclap.train.augment import augment_waves_marked
from openclap.train.batches import Batch, TrainBatches
from openclap.train.config import TrainConfig
from openclap.train.distill import TeacherTargets, distill_loss
from openclap.train.evaluate import Evaluator
from openclap.train.module import autocast_context
from openclap.train.optim import WarmupCosine
from openclap.train.semantic import SemanticTargets, semantic_loss
from openclap.train.state import TrainState, save_model_folder, save_train_checkpoint
from openclap.train.text_cache import TEXT_CACHE_FILE, TextFeatureCache
from openclap.train.tracker import MetricsTracker

StepCallback = Callable[[TrainState, dict[str, float]], None]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the step and the batch's files."""


@dataclass
class LoopParts:
    """Everything the loop needs, built by ``runner.train``."""

    config: TrainConfig
    info: DistInfo
    device: torch.device
    model: ClapModel
    module: nn.Module  # TrainModule, DDP-wrapped when distributed
    optimizer: torch.optim.Optimizer
    schedule: WarmupCosine
    scaler: Any
    loss_fn: ClapLoss
    data: TrainBatches
    tracker: MetricsTracker
    evaluator: Evaluator | None
    total_steps: int
    state: TrainState
    callbacks: list[StepCallback] = field(default_factory=list)
    teacher: TeacherTargets | None = None  # distillation targets (with TrainModule.distill_head)
    semantic: SemanticTargets | None = None  # text-space targets (with TrainModule.semantic_features)
    text_cache: TextFeatureCache | None = None  # locked text tower: features per caption


class TrainLoop:
    def __init__(self, parts: LoopParts) -> None:
        self.p = parts
        self.cfg = parts.config
        self.out = Path(parts.config.output_dir)
        self.window: list[float] = []
        self.window_start = time.perf_counter()
        self.window_samples = 0
        self.distill_window: list[float] = []  # one distillation loss per step
        self.distill_parts: list[float] = []  # the current step's, one per micro-batch
        self.semantic_window: list[float] = []  # the same for the semantic loss
        self.semantic_parts: list[float] = []
        self.paused = 0.0  # seconds of evaluation / checkpointing inside the current log window
        self.last_eval: dict[str, float] = {}
        self.last_eval_step = -1
        self.last_ckpt_step = -1
        self.reported: set[str] = set()
        self.bar: Any = None

    # ----- driver -------------------------------------------------------------------------------------
    def run(self) -> dict[str, float]:
        st = self.p.state
        self._open_progress()
        try:
            if st.step == 0 and self.cfg.eval_at_start:
                self._evaluate()
            while st.step < self.p.total_steps:
                self._run_epoch()
            self._finish()
        finally:
            if self.bar is not None:
                self.bar.close()
        return self.last_eval

    def _open_progress(self) -> None:
        if self.p.info.is_main and self.cfg.progress:
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.p.total_steps,
                initial=self.p.state.step,
                unit="step",
                dynamic_ncols=True,
                desc="train",
            )

    def _run_epoch(self) -> None:
        st, accum = self.p.state, self.cfg.optim.grad_accum_steps
        usable = (self.p.data.batches_per_epoch(st.epoch) // accum) * accum
        if usable == 0:
            raise ValueError(f"an epoch holds fewer than grad_accum_steps={accum} batches; use more data")
        group: list[Batch] = []
        for batch in self.p.data.iterate(st.epoch, st.batch_in_epoch):
            group.append(batch)
            if len(group) < accum:
                continue
            metrics = self._train_step(group)
            group = []
            rolled = st.batch_in_epoch >= usable
            if rolled:
                st.epoch, st.batch_in_epoch = st.epoch + 1, 0
            self._after_step(metrics)
            if rolled or st.step >= self.p.total_steps:
                return
        st.epoch, st.batch_in_epoch = st.epoch + 1, 0  # the loader ran short of ``usable``

    def _finish(self) -> None:
        st = self.p.state
        # DDP keeps parameters equal; BatchNorm running statistics are per rank until made equal here.
        broadcast_tensors([b for b in self.p.model.buffers() if b.is_floating_point()])
        if self.last_eval_step != st.step:
            self._evaluate()
        if self.last_ckpt_step != st.step:
            self._checkpoint()
        if self.p.info.is_main:
            info = {"step": st.step, "metrics": self.last_eval}
            save_model_folder(self.p.model, self.out / "final", info)
            if self.cfg.plot:
                self.p.tracker.plot()
        barrier()

    # ----- one optimiser step ---------------------------------------------------------------------------
    def _train_step(self, group: list[Batch]) -> dict[str, float]:
        p, st = self.p, self.p.state
        lr = p.schedule.apply(p.optimizer, st.step)
        micros = [self._prepare(batch, i) for i, batch in enumerate(group)]
        cached = None
        if len(micros) > 1:
            cached = cache_embeddings(getattr(p.module, "module", p.module), micros, self._forward)
        counts = (
            self._count(m.distill_targets for m in micros),
            self._count(m.semantic_targets for m in micros),
        )
        losses = [self._micro_step(m, cached, counts) for m in micros]
        pairs = ((self.distill_parts, self.distill_window), (self.semantic_parts, self.semantic_window))
        for parts, window in pairs:
            if parts:
                window.append(sum(parts))
                parts.clear()
        finite = [loss for loss in losses if torch.isfinite(loss)]
        skipped = sum(len(batch["skipped"]) for batch in group)
        local = [float(sum(finite)), float(len(losses) - len(finite)), float(skipped)]
        totals = all_reduce_sum(torch.tensor(local, dtype=torch.float64, device=p.device)).cpu()
        if totals[1] > 0:
            raise self._non_finite(group, losses)
        grad_norm = self._apply_gradients()
        clamp_logit_scales_(p.model, p.loss_fn.max_logit_scale)
        self._report_skipped(group)
        st.step += 1
        st.batch_in_epoch += len(group)
        st.samples_seen += p.info.world_size * self.cfg.batch_size * len(group)
        st.bad_clips += int(totals[2])
        loss = float(totals[0]) / p.info.world_size
        return {"loss": loss, "lr": lr, "grad_norm": grad_norm}

    def _prepare(self, batch: Batch, micro: int) -> Micro:
        """Augment micro-batch ``micro`` once and fix its seeds (shared by the cached and gradient pass)."""
        p, step, rank = self.p, self.p.state.step, self.p.info.rank
        wave = batch["wave"].to(p.device, non_blocking=True)
        gen = seeded_generator(self.cfg.seed, "augment", step, micro, rank)
        rate = p.model.config.audio.sample_rate
        wave, captions, mixed = augment_waves_marked(wave, batch["captions"], self.cfg.augment, gen, rate)
        targets = semantic = None
        if p.teacher is not None:
            found, known = p.teacher.lookup(batch["paths"], batch.get("spans"))
            targets = (found, known & ~mixed)
        if p.semantic is not None:
            weights, known = p.semantic.lookup(batch["paths"], batch.get("spans"))
            semantic = (weights, known & ~mixed)
        return Micro(
            index=micro,
            wave=wave,
            text=self._text_input(captions, mixed),
            lengths=batch.get("lengths"),
            spec_seed=derive_seed(self.cfg.seed, "spec", step, micro, rank),
            dropout_seed=derive_seed(self.cfg.seed, "dropout", step, micro, rank),
            distill_targets=targets,
            semantic_targets=semantic,
        )

    def _forward(self, module: nn.Module, micro: Micro) -> dict[str, Any]:
        torch.manual_seed(micro.dropout_seed)
        with autocast_context(self.cfg.precision, self.p.device):
            return module(micro.wave, micro.text, micro.spec_seed, micro.lengths)

    @staticmethod
    def _count(targets: Iterable[tuple[torch.Tensor, torch.Tensor] | None]) -> float:
        """Clips with a target in the accumulated batch (the denominator of its loss's mean)."""
        return max(1.0, float(sum(int(t[1].sum()) for t in targets if t is not None)))

    def _micro_step(
        self, micro: Micro, cached: dict[str, list[torch.Tensor]] | None, counts: tuple[float, float]
    ) -> torch.Tensor:
        """Forward with gradient and backward; returns this micro-batch's share of the step's loss."""
        p, accum = self.p, self.cfg.optim.grad_accum_steps
        last = micro.index == accum - 1
        no_sync = getattr(p.module, "no_sync", None)
        sync = nullcontext() if last or no_sync is None else no_sync()
        with sync:
            out = self._forward(p.module, micro)
            whole = splice(out, cached, micro.index, last)
            loss = p.loss_fn(
                whole["audio_emb"], whole["text_emb"], whole["logit_scale"], whole.get("logit_scale_t")
            )
            share = loss.detach() / accum  # every pass computes the whole batch's loss
            if micro.distill_targets is not None:
                targets, mask = micro.distill_targets
                extra = distill_loss(out["distill"], targets, mask, self.cfg.distill.loss, counts[0])
                self.distill_parts.append(float(extra.detach()))
                loss = loss + self.cfg.distill.weight * extra
                share = share + self.cfg.distill.weight * extra.detach()
            if micro.semantic_targets is not None:
                weights, mask = micro.semantic_targets
                classes, scale = out["semantic_classes"], out["logit_scale"]
                extra = semantic_loss(out["audio_emb"], weights, classes, mask, scale, counts[1])
                self.semantic_parts.append(float(extra.detach()))
                loss = loss + self.cfg.distill.semantic_weight * extra
                share = share + self.cfg.distill.semantic_weight * extra.detach()
            # every rank back-propagates, even a NaN, so collectives stay matched; the step is refused later
            p.scaler.scale(loss).backward()
        return share

    def _text_input(self, captions: list[str], mixed: torch.Tensor) -> dict[str, torch.Tensor] | torch.Tensor:
        p = self.p
        if p.text_cache is not None:
            return p.text_cache.features(captions, [not m for m in mixed.tolist()]).to(p.device)
        return {k: v.to(p.device) for k, v in p.model.tokenize(captions).items()}

    def _apply_gradients(self) -> float:
        p = self.p
        return optimizer_step(p.optimizer, p.model.parameters(), self.cfg.optim.clip_grad_norm, p.scaler)

    def _non_finite(self, group: list[Batch], losses: list[torch.Tensor]) -> NonFiniteLossError:
        st = self.p.state
        bad = [b for b, loss in zip(group, losses, strict=True) if not torch.isfinite(loss)]
        files = [path for b in (bad or group) for path in b["paths"]]
        where = "this rank's batch" if bad else "another rank's batch (this rank's batch follows)"
        values = ", ".join(f"{float(loss):g}" for loss in losses)
        return NonFiniteLossError(
            f"non-finite loss ({values}) at step {st.step + 1} (epoch {st.epoch}); the last checkpoint is "
            f"untouched; {where} held {len(files)} files: " + ", ".join(files)
        )

    def _report_skipped(self, group: list[Batch]) -> None:
        for batch in group:
            for path, problem in batch["skipped"]:
                if path not in self.reported:
                    self.reported.add(path)
                    self._print(f"skipped bad clip {path}: {problem}")

    # ----- after the step ------------------------------------------------------------------------------
    def _after_step(self, metrics: dict[str, float]) -> None:
        st, cfg = self.p.state, self.cfg
        self.window.append(metrics["loss"])
        self.window_samples += self.p.info.world_size * cfg.batch_size * cfg.optim.grad_accum_steps
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{metrics['loss']:.3f}", lr=f"{metrics['lr']:.2e}")
        if st.step % max(1, cfg.log_every) == 0 or st.step == self.p.total_steps:
            self._log_train(metrics)
        if cfg.eval_every and st.step % cfg.eval_every == 0:
            self._evaluate()
        if cfg.checkpoint_every and st.step % cfg.checkpoint_every == 0:
            self._checkpoint()
        if cfg.snapshot_every and st.step % cfg.snapshot_every == 0:
            self._snapshot()
        for callback in self.p.callbacks:
            callback(st, metrics)

    def _log_train(self, metrics: dict[str, float]) -> None:
        st = self.p.state
        elapsed = max(time.perf_counter() - self.window_start - self.paused, 1e-9)
        row = {
            "loss": sum(self.window) / len(self.window),
            "lr": metrics["lr"],
            "grad_norm": metrics["grad_norm"],
            "logit_scale": float(self.p.model.logit_scale.detach().exp()),
            "samples_per_s": self.window_samples / elapsed,
            "epoch": float(st.epoch),
            "bad_clips": float(st.bad_clips),
        }
        for name, window in (("distill_loss", self.distill_window), ("semantic_loss", self.semantic_window)):
            if window:
                row[name] = sum(window) / len(window)
                window.clear()
        self.p.tracker.log("train", st.step, row)
        self.window, self.window_samples, self.window_start = [], 0, time.perf_counter()
        self.paused = 0.0

    def _evaluate(self) -> None:
        started = time.perf_counter()
        p, st = self.p, self.p.state
        metrics: dict[str, float] = {}
        if p.info.is_main and p.evaluator is not None:
            metrics = p.evaluator(p.model)
            p.tracker.log("eval", st.step, metrics)
            self._print(f"step {st.step}: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())))
            self._update_best(metrics)
        p.module.train()
        st.best_value, st.best_step = broadcast_object((st.best_value, st.best_step))
        self.last_eval = broadcast_object(metrics)
        self.last_eval_step = st.step
        barrier()
        self.paused += time.perf_counter() - started

    def _update_best(self, metrics: dict[str, float]) -> None:
        st, key = self.p.state, self.cfg.best_metric
        value = metrics.get(key)
        if value is None or math.isnan(value):
            if key not in self.reported:
                self.reported.add(key)
                self._print(f"best_metric {key!r} is not among the eval metrics {sorted(metrics)}")
            return
        if st.best_value is None or value > st.best_value:
            st.best_value, st.best_step = value, st.step
            save_model_folder(
                self.p.model, self.out / "best", {"step": st.step, key: value, "metrics": metrics}
            )

    def _checkpoint(self) -> None:
        started = time.perf_counter()
        p = self.p
        if p.info.is_main:
            extra = {
                "config": self.cfg.to_dict(),
                "world_size": p.info.world_size,
                "total_steps": p.total_steps,
            }
            root = self.out / "checkpoints"
            save_train_checkpoint(
                root, p.model, p.optimizer, p.scaler, p.state, extra, self.cfg.keep_checkpoints, self._aux()
            )
            if p.text_cache is not None:
                p.text_cache.save(self.out / TEXT_CACHE_FILE)
        self.last_ckpt_step = p.state.step
        barrier()
        self.paused += time.perf_counter() - started

    def _snapshot(self) -> None:
        """The model alone (no optimiser state) in ``snapshots/step-N``, kept for tail weight averaging
        (recipes/default_model/average.py); a resumed run rewrites the same weights."""
        started = time.perf_counter()
        if self.p.info.is_main:
            folder = self.out / "snapshots" / f"step-{self.p.state.step:08d}"
            save_model_folder(self.p.model, folder, {"step": self.p.state.step})
        self.paused += time.perf_counter() - started

    def _aux(self) -> nn.Module | None:
        """Trained modules outside the ``ClapModel`` (the distillation head), saved in checkpoints."""
        return getattr(self.p.module, "module", self.p.module).distill_head

    def _print(self, message: str) -> None:
        prefix = f"[rank {self.p.info.rank}] " if self.p.info.is_distributed else ""
        if self.bar is not None:
            self.bar.write(prefix + message, file=sys.stderr)
        else:
            print(prefix + message, file=sys.stderr)
