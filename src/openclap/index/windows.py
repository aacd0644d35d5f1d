"""Embed files as deterministic windows: every file is cut into clip-length windows every ``hop`` seconds
(``audio.clip.sliding_windows``: the last window is aligned with the file's end, a file shorter than one
clip is one padded window), and each window gets its own embedding and its start / end time.

Decoding runs ahead in threads (``inference.decoded_files``); windows of consecutive files share
forward batches, and each window's embedding does not depend on its batch. A CPU model whose encoder
gains by it runs batches side by side instead (``batch_threads.in_order``), each thread decoding and
embedding its own group of files.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from openclap.audio.clip import sliding_windows
from openclap.audio.io import AudioError
from openclap.batch_threads import in_order
from openclap.inference import clips_per_group, concurrent_batches_for, decoded_files, file_groups
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
    ``concurrent_batches`` as in ``inference.embed_audio_files``: above 1, each of that many threads
    decodes a group of consecutive files and embeds their windows on one intra-op thread (``workers``
    is then not used); else ``workers`` threads decode ahead of one batch at a time."""
    threads = concurrent_batches_for(model, concurrent_batches)
    if threads > 1:
        yield from _side_by_side(model, paths, hop_seconds, batch_size, threads)
        return
    loaded = decoded_files(paths, model.config.audio.sample_rate, workers)
    yield from _windowed(model, loaded, hop_seconds, batch_size)


def _windowed(
    model: ClapModel,
    loaded: Iterable[tuple[str, np.ndarray | AudioError]],
    hop_seconds: float | None,
    batch_size: int,
) -> Iterator[tuple[str, FileWindows | AudioError]]:
    """``(path, FileWindows | AudioError)`` for decoded files in their order, each as soon as its windows
    are embedded; windows of consecutive files share batches of ``batch_size``."""
    open_files: deque[FileWindows | tuple[str, AudioError]] = deque()
    pending: list[tuple[FileWindows, int, torch.Tensor]] = []

    def finished() -> Iterator[tuple[str, FileWindows | AudioError]]:
        while open_files and (isinstance(open_files[0], tuple) or open_files[0].done):
            head = open_files.popleft()
            yield head if isinstance(head, tuple) else (head.path, head)

    for path, wave in loaded:
        if isinstance(wave, AudioError):
            open_files.append((path, wave))
        else:
            item, windows = _file_windows(model, path, wave, hop_seconds)
            open_files.append(item)
            for slot, clip in enumerate(windows):
                pending.append((item, slot, clip))
                if len(pending) >= batch_size:
                    _embed_batch(model, pending)
                    pending = []
        yield from finished()
    if pending:
        _embed_batch(model, pending)
    yield from finished()


def _file_windows(
    model: ClapModel, path: str, wave: np.ndarray, hop_seconds: float | None
) -> tuple[FileWindows, torch.Tensor]:
    """A decoded file's ``FileWindows`` (no vectors yet) and its windows [W, clip_samples]."""
    windows, starts, ends = window_plan(wave, model, hop_seconds)
    duration = len(wave) / model.config.audio.sample_rate
    return FileWindows(path, duration, starts, ends, [None] * len(starts)), windows


def _embed_batch(model: ClapModel, batch: list[tuple[FileWindows, int, torch.Tensor]]) -> None:
    """Embed a batch of windows into their files' slots."""
    prepared = model.prepare_waveforms([clip for _, _, clip in batch]).to(model.logit_scale.device)
    with torch.inference_mode():
        emb = model.encode_audio(prepared).float().cpu()
    for (item, slot, _), row in zip(batch, emb, strict=True):
        item.vectors[slot] = row


def _embed_group(
    model: ClapModel, group: list[str], hop_seconds: float | None, batch_size: int
) -> list[tuple[str, FileWindows | AudioError]]:
    """Decode a group of files and embed their windows, with the calling thread's intra-op threads (one
    file decoded at a time on one thread, else that many at once)."""
    loaded = decoded_files(group, model.config.audio.sample_rate, torch.get_num_threads())
    return list(_windowed(model, loaded, hop_seconds, batch_size))


def _side_by_side(
    model: ClapModel, paths: Sequence[str], hop_seconds: float | None, batch_size: int, threads: int
) -> Iterator[tuple[str, FileWindows | AudioError]]:
    """``threads`` threads, each decoding and embedding a group of consecutive files (about a batch of
    windows by their headers, fewer in a short job: ``inference.file_groups``)."""
    hop = hop_seconds or model.config.audio.clip_seconds
    groups = file_groups(paths, clips_per_group(len(paths), batch_size, threads), hop)
    run = lambda group: _embed_group(model, group, hop_seconds, batch_size)  # noqa: E731
    for done in in_order(run, groups, threads):
        yield from done
