"""Embedding helpers over files and arrays: bounded-memory batching, long-audio windows, error reports.

Embedding never draws random numbers: clips are fit deterministically and long files are either
cropped (``long_audio="crop"``, the config's start/centre crop) or cut into windows whose embeddings
are averaged (``long_audio="mean"``). Fusion models (``audio.fusion_shrink`` set: LAION's ``*fusion*``
checkpoints) take a long file whole in either mode: their fusion input (a shrunk global mel plus three
deterministic local chunks) is how they were published to embed long audio.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from openclap.audio.clip import long_audio_clips, sliding_windows
from openclap.audio.fusion import FusionBatch
from openclap.audio.io import AudioError, audio_seconds, load_mono, prepare_array, silence_warning
from openclap.batch_threads import in_order
from openclap.model import ClapModel

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".w64", ".caf")
LONG_AUDIO_MODES = ("mean", "crop")


@dataclass
class EmbeddingResult:
    """Embeddings [N, D] of the files that worked, their paths, (path, message) of those that failed,
    and (path, message) of embedded files that deserve a look (silent audio)."""

    paths: list[str]
    embeddings: np.ndarray
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


def find_audio_files(inputs: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Expand folders (recursively, sorted) into audio files; files are kept as given."""
    found: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += sorted(
                str(p) for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
            )
        else:
            found.append(str(path))
    return found


def embed_texts(model: ClapModel, texts: Sequence[str], batch_size: int = 128) -> np.ndarray:
    """L2-normalised text embeddings [N, D] float32, in the order of ``texts``.

    All texts are tokenised in one call; batches are then formed from texts of similar token length
    (padding columns no text of the batch uses are dropped), so short prompts do not pay for long ones.
    """
    if isinstance(texts, str):
        raise TypeError("embed_texts expects a list of strings, not one string")
    if not texts:
        return np.zeros((0, model.config.projection.dim), np.float32)
    tokens = model.tokenize(list(texts))
    mask = tokens["attention_mask"]
    order = torch.argsort(mask.sum(dim=1), stable=True)
    out = torch.empty(len(texts), model.config.projection.dim)
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            rows = order[i : i + batch_size]
            used = mask[rows].any(dim=0)  # token columns some text of this batch needs
            batch = {k: v[rows][:, used] for k, v in tokens.items()}
            out[rows] = model.encode_text(batch).float().cpu()
    return out.numpy()


def check_long_audio(long_audio: str) -> None:
    """A ValueError naming the valid modes unless ``long_audio`` is one of ``LONG_AUDIO_MODES``."""
    if long_audio not in LONG_AUDIO_MODES:
        raise ValueError(f"long_audio={long_audio!r} is not valid; choose one of {list(LONG_AUDIO_MODES)}")


def windowed_means(
    model: ClapModel,
    waves: Iterable[tuple[int, np.ndarray]],
    forward: Callable[[torch.Tensor | FusionBatch], torch.Tensor],
    batch_size: int = 16,
    long_audio: str = "mean",
    device: torch.device | None = None,
    threads: int = 1,
) -> dict[int, torch.Tensor]:
    """``forward`` over the clips of ``(item, mono wave)`` pairs, ``batch_size`` clips at a time
    (prepared by the model, on ``device``: default the model's), and each item's mean output row.

    An item's clips are ``long_audio_clips``: the windows of a long wave with ``long_audio="mean"``, else
    the wave itself. ``forward`` maps a prepared batch to [b, K] rows on the CPU (in their sum's dtype);
    it runs under ``torch.inference_mode``. With ``threads`` > 1 (a CPU model) up to that many batches
    run at once, each on one intra-op thread (``openclap.batch_threads.in_order``), and at most
    ``threads + 2`` batches of clips are held; else one batch. Rows are summed in the batches' order
    either way. Embedding and the fine-tuning protocol's scoring share it.
    """
    check_long_audio(long_audio)
    device = model.logit_scale.device if device is None else device

    def batches() -> Iterator[list[tuple[int, torch.Tensor]]]:
        pending: list[tuple[int, torch.Tensor]] = []  # (item, clip)
        for idx, wave in waves:
            for clip in long_audio_clips(wave, model.config.audio, long_audio):
                pending.append((idx, clip))
                if len(pending) >= batch_size:
                    yield pending
                    pending = []
        if pending:
            yield pending

    def run(batch: list[tuple[int, torch.Tensor]]) -> tuple[list[int], torch.Tensor]:
        prepared = model.prepare_waveforms([clip for _, clip in batch]).to(device)
        with torch.inference_mode():
            return [idx for idx, _ in batch], forward(prepared)

    sums: dict[int, torch.Tensor] = {}
    counts: dict[int, int] = {}
    for idxs, rows in in_order(run, batches(), threads):
        for idx, row in zip(idxs, rows, strict=True):
            sums[idx] = sums[idx] + row if idx in sums else row.clone()
            counts[idx] = counts.get(idx, 0) + 1
    return {idx: total / counts[idx] for idx, total in sums.items()}


def concurrent_batches_for(model: ClapModel, asked: int | None = None) -> int:
    """Batches run at once: ``asked``, else torch's intra-op threads for a CPU model whose encoder runs
    faster that way (``ClapModel.cpu_batches_side_by_side``; each batch then on one of them, see
    ``openclap.batch_threads``), and 1 otherwise."""
    if asked is not None:
        if asked < 1:
            raise ValueError(f"concurrent_batches must be at least 1, got {asked}")
        return asked
    on_cpu = model.logit_scale.device.type == "cpu"
    return torch.get_num_threads() if on_cpu and model.cpu_batches_side_by_side() else 1


def _result(
    model: ClapModel,
    paths: list[str],
    rows: list[torch.Tensor],
    errors: list[tuple[str, str]],
    warnings: list[tuple[str, str]],
) -> EmbeddingResult:
    if not paths:
        return EmbeddingResult([], np.zeros((0, model.config.projection.dim), np.float32), errors)
    return EmbeddingResult(paths, F.normalize(torch.stack(rows), dim=-1).numpy(), errors, warnings)


def _audio_rows(model: ClapModel) -> Callable[[torch.Tensor | FusionBatch], torch.Tensor]:
    """``windowed_means``' forward for embedding: the model's audio embeddings, float32 on the CPU."""
    return lambda batch: model.encode_audio(batch).float().cpu()


def _embed_items(
    model: ClapModel,
    items: Iterator[tuple[str, np.ndarray | Exception]],
    batch_size: int,
    long_audio: str,
    concurrent_batches: int | None = None,
) -> EmbeddingResult:
    paths: list[str] = []
    errors: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []

    def good() -> Iterator[tuple[int, np.ndarray]]:
        for name, wave in items:
            if isinstance(wave, Exception):
                errors.append((name, str(wave)))
                continue
            paths.append(name)
            if (warning := silence_warning(wave)) is not None:
                warnings.append((name, warning))
            yield len(paths) - 1, wave

    threads = concurrent_batches_for(model, concurrent_batches)
    means = windowed_means(model, good(), _audio_rows(model), batch_size, long_audio, threads=threads)
    return _result(model, paths, [means[i] for i in range(len(paths))], errors, warnings)


def file_groups(
    paths: Sequence[str | os.PathLike[str]], clips_per_group: int, seconds_per_clip: float | None
) -> Iterator[list[str]]:
    """Consecutive files whose clips, counted from their headers, make about ``clips_per_group``: a
    file gives ``ceil(seconds / seconds_per_clip)`` clips (windows), or one where ``seconds_per_clip`` is
    None (one clip a file) or its header says nothing."""
    group: list[str] = []
    clips = 0
    for path in paths:
        group.append(str(path))
        seconds = audio_seconds(path) if seconds_per_clip else None
        clips += max(1, math.ceil(seconds / seconds_per_clip)) if seconds and seconds_per_clip else 1
        if clips >= clips_per_group:
            yield group
            group, clips = [], 0
    if group:
        yield group


def clips_per_group(files: int, batch_size: int, threads: int) -> int:
    """A batch of clips a group, fewer in a short job: at least ``GROUPS_PER_THREAD`` groups per thread
    where the files allow, so that the last groups, which the other threads may no longer overlap, are a
    small part of it."""
    return max(1, min(batch_size, math.ceil(files / (GROUPS_PER_THREAD * threads))))


GROUPS_PER_THREAD = 4  # side by side, a short job's files are cut into this many groups per thread
FileRow = tuple[str, torch.Tensor | None, str | None]  # (path, mean row or None, error or warning)


def _embed_group(model: ClapModel, group: list[str], batch_size: int, long_audio: str) -> list[FileRow]:
    """Decode a group of files and embed them, with the calling thread's intra-op threads: one file at a
    time on one, else that many at once (a lone group has the caller's threads)."""
    loaded = list(decoded_files(group, model.config.audio.sample_rate, torch.get_num_threads()))
    waves = [(i, wave) for i, (_, wave) in enumerate(loaded) if not isinstance(wave, AudioError)]
    means = windowed_means(model, iter(waves), _audio_rows(model), batch_size, long_audio)
    return [
        (name, None, str(wave)) if isinstance(wave, AudioError) else (name, means[i], silence_warning(wave))
        for i, (name, wave) in enumerate(loaded)
    ]


def _embed_side_by_side(
    model: ClapModel,
    paths: Sequence[str | os.PathLike[str]],
    batch_size: int,
    long_audio: str,
    threads: int,
    progress: bool,
) -> EmbeddingResult:
    """``threads`` threads, each decoding a group of files (``file_groups``) and embedding it on one
    intra-op thread (``batch_threads.in_order``): no decoding thread shares a core with the model."""
    check_long_audio(long_audio)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(paths), desc="embedding", unit="file")
    names: list[str] = []
    rows: list[torch.Tensor] = []
    errors: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    run = lambda group: _embed_group(model, group, batch_size, long_audio)  # noqa: E731
    cfg = model.config.audio
    windows = long_audio == "mean" and cfg.fusion_shrink is None
    per_group = clips_per_group(len(paths), batch_size, threads)
    groups = file_groups(paths, per_group, cfg.clip_seconds if windows else None)
    try:
        for done in in_order(run, groups, threads):
            for name, row, message in done:
                if row is None:
                    errors.append((name, str(message)))
                    continue
                names.append(name)
                rows.append(row)
                if message is not None:
                    warnings.append((name, message))
            if bar is not None:
                bar.update(len(done))
    finally:
        if bar is not None:
            bar.close()
    return _result(model, names, rows, errors, warnings)


AHEAD_SECONDS = 600.0  # decoded audio that decoded_files may hold ahead of its consumer (beyond one file)


def _load(path: str | os.PathLike[str], sample_rate: int) -> tuple[str, np.ndarray | AudioError]:
    try:
        return str(path), load_mono(path, sample_rate)
    except AudioError as err:
        return str(path), err


def _pool(workers: int, processes: bool) -> Executor:
    if not processes:
        return ThreadPoolExecutor(workers, thread_name_prefix="openclap-decode")
    methods = multiprocessing.get_all_start_methods()  # fork: no re-import of torch per worker
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(
        "fork" if "fork" in methods else "spawn"))


def decoded_files(
    paths: Sequence[str | os.PathLike[str]],
    sample_rate: int,
    workers: int | None = None,
    processes: bool = False,
) -> Iterator[tuple[str, np.ndarray | AudioError]]:
    """``(path, mono wave at sample_rate)`` for each path in order, or ``(path, AudioError)`` for a bad one.

    ``workers`` (None: ``default_workers()``) files are decoded and resampled at once, in threads
    (libsndfile and soxr release the GIL) or, with ``processes``, in worker processes (no GIL shared
    with the model's thread; each decoded wave is copied back). The waves do not depend on either
    choice. Memory stays bounded: at most ``2 * workers`` files, and at most ``AHEAD_SECONDS`` of audio by
    their headers (or one file, however long), are held ahead of the consumer.
    """
    workers = default_workers() if workers is None else workers
    if workers <= 1 and not processes:
        yield from (_load(path, sample_rate) for path in paths)
        return
    with _pool(workers, processes) as pool:
        ahead: deque[tuple[Future[tuple[str, np.ndarray | AudioError]], float]] = deque()
        held = 0.0
        for path in paths:
            seconds = audio_seconds(path) or 0.0
            while ahead and (len(ahead) >= 2 * workers or held + seconds > AHEAD_SECONDS):
                future, done = ahead.popleft()
                held -= done
                yield future.result()
            ahead.append((pool.submit(_load, path, sample_rate), seconds))
            held += seconds
        while ahead:
            yield ahead.popleft()[0].result()


def default_workers() -> int:
    """Decoding threads when none are asked for: the machine's cores, at most 8. On a 16-core GPU machine
    1 / 4 / 8 / 16 threads embedded 111 / 315 / 451 / 554 files a second (decoding is the bottleneck)."""
    return max(1, min(8, os.cpu_count() or 1))


def embed_audio_files(
    model: ClapModel,
    paths: Sequence[str | os.PathLike[str]],
    batch_size: int = 16,
    long_audio: str = "mean",
    progress: bool = False,
    workers: int | None = None,
    processes: bool = False,
    concurrent_batches: int | None = None,
) -> EmbeddingResult:
    """Embed audio files; a bad file is reported in ``errors`` (path, problem) and skipped; a silent
    one is embedded and reported in ``warnings``.

    ``workers`` files are decoded at once (default ``default_workers()``), in threads or, with
    ``processes``, in worker processes; the result depends on neither. ``concurrent_batches`` batches
    run at once, each on one intra-op thread (default ``concurrent_batches_for``: torch's threads for a
    CPU model whose encoder gains by it, else 1; see ``openclap.batch_threads``); without ``processes``
    each of those threads then decodes its own group of consecutive files (about a batch of clips by
    their headers; fewer in a short job, so that each thread gets ``GROUPS_PER_THREAD`` groups) and
    ``workers`` is not used. The result is the same on every run, and against
    ``concurrent_batches=1`` equal up to the last float bits where a kernel splits its sums by thread.
    Memory is bounded by the decoded files held ahead (see ``decoded_files``; side by side, the groups
    being embedded) plus ``concurrent_batches + 2`` batches of clips.
    """
    paths = list(paths)  # any iterable of paths, counted once
    threads = concurrent_batches_for(model, concurrent_batches)
    if threads > 1 and not processes:
        return _embed_side_by_side(model, paths, batch_size, long_audio, threads, progress)
    items: Iterable[tuple[str, np.ndarray | AudioError]] = decoded_files(
        paths, model.config.audio.sample_rate, workers, processes
    )
    if progress:
        from tqdm import tqdm

        items = tqdm(items, total=len(paths), desc="embedding", unit="file")
    return _embed_items(model, iter(items), batch_size, long_audio, threads)


def embed_audio(
    model: ClapModel,
    waves: Sequence[np.ndarray],
    sample_rate: int,
    batch_size: int = 16,
    long_audio: str = "mean",
) -> np.ndarray:
    """Embed in-memory [N] or [C, N] arrays at ``sample_rate``: [len(waves), D]. Bad arrays raise."""
    target = model.config.audio.sample_rate
    prepared = [
        (f"<array {i}>", prepare_array(w, sample_rate, target, f"<array {i}>")) for i, w in enumerate(waves)
    ]
    return _embed_items(model, iter(prepared), batch_size, long_audio).embeddings


def embed_audio_windows(
    model: ClapModel, path: str | os.PathLike[str], hop_seconds: float | None = None, batch_size: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """Per-window embeddings of one file: ``(embeddings [W, D], start_seconds [W])``."""
    cfg = model.config.audio
    wave = torch.from_numpy(load_mono(path, cfg.sample_rate))
    hop = round((hop_seconds or cfg.clip_seconds) * cfg.sample_rate)
    windows, starts = sliding_windows(wave, cfg.clip_samples, hop, cfg.sample_rate, pad=cfg.pad)
    out = []
    with torch.inference_mode():
        for i in range(0, windows.shape[0], batch_size):
            batch = model.prepare_waveforms(list(windows[i : i + batch_size]))
            out.append(model.encode_audio(batch.to(model.logit_scale.device)).float().cpu())
    return torch.cat(out).numpy(), starts.numpy()
