"""Embed files as deterministic windows: every file is cut into clip-length windows every ``hop`` seconds
(``audio.clip.sliding_windows``: the last window is aligned with the file's end, a file shorter than one
clip is one padded window), and each window gets its own embedding and its start / end time.

Decoding runs ahead in threads (``inference.decoded_files``); windows of consecutive files share
forward batches, and each window's embedding does not depend on its batch. A CPU model whose encoder
gains by it runs batches side by side (``batch_threads.in_order``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from openclap.audio.clip import sliding_windows
from openclap.audio.io import AudioError
from openclap.batch_threads import in_order
from openclap.inference import concurrent_batches_for, decoded_files
from openclap.model import ClapModel


@dataclass
class FileWindows:
    """One decoded file's windows: start / end seconds, and embeddings [W, D] once all are done."""

    path: str
    duration: float
    starts: list[float]
    ends: list[float]
    vectors: list[torch.Tensor | None] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return all(v is not None for v in self.vectors)

    def matrix(self) -> np.ndarray:
        return torch.stack([v for v in self.vectors if v is not None]).numpy()


def window_plan(
    wave: np.ndarray, model: ClapModel, hop_seconds: float | None
) -> tuple[torch.Tensor, list[float], list[float]]:
    """``(windows [W, clip_samples], starts, ends)`` of a mono wave at the model's sample rate."""
    cfg = model.config.audio
    hop = round((hop_seconds or cfg.clip_seconds) * cfg.sample_rate)
    windows, starts = sliding_windows(torch.from_numpy(wave), cfg.clip_samples, hop, cfg.sample_rate, cfg.pad)
    duration = len(wave) / cfg.sample_rate
    start_list = [float(s) for s in starts]
    return windows, start_list, [min(s + cfg.clip_seconds, duration) for s in start_list]


def embed_windows(
    model: ClapModel,
    paths: Sequence[str],
    hop_seconds: float | None = None,
    batch_size: int = 16,
    workers: int | None = None,
    concurrent_batches: int | None = None,
) -> Iterator[tuple[str, FileWindows | AudioError]]:
    """``(path, FileWindows)`` for each path in order, or ``(path, AudioError)`` for one that fails.
    ``concurrent_batches`` as in ``inference.embed_audio_files``."""
    sample_rate = model.config.audio.sample_rate
    device = model.logit_scale.device
    open_files: deque[FileWindows | tuple[str, AudioError]] = deque()

    def batches() -> Iterator[list[tuple[FileWindows, int, torch.Tensor]]]:
        pending: list[tuple[FileWindows, int, torch.Tensor]] = []
        for path, wave in decoded_files(paths, sample_rate, workers):
            if isinstance(wave, AudioError):
                open_files.append((path, wave))
                continue
            windows, starts, ends = window_plan(wave, model, hop_seconds)
            item = FileWindows(path, len(wave) / sample_rate, starts, ends, [None] * len(starts))
            open_files.append(item)
            for slot, clip in enumerate(windows):
                pending.append((item, slot, clip))
                if len(pending) >= batch_size:
                    yield pending
                    pending = []
        if pending:
            yield pending

    Batch = list[tuple[FileWindows, int, torch.Tensor]]

    def run(batch: Batch) -> tuple[Batch, torch.Tensor]:
        prepared = model.prepare_waveforms([clip for _, _, clip in batch]).to(device)
        with torch.inference_mode():
            return batch, model.encode_audio(prepared).float().cpu()

    def finished() -> Iterator[tuple[str, FileWindows | AudioError]]:
        while open_files and (isinstance(open_files[0], tuple) or open_files[0].done):
            head = open_files.popleft()
            yield head if isinstance(head, tuple) else (head.path, head)

    threads = concurrent_batches_for(model, concurrent_batches)
    for batch, emb in in_order(run, batches(), threads):
        for (item, slot, _), row in zip(batch, emb, strict=True):
            item.vectors[slot] = row
        yield from finished()
    yield from finished()
