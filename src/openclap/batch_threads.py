"""A CPU model's batches run side by side, each on one intra-op thread, their results in order.

A model call spread over every core by OpenMP waits at each parallel region's barrier for its slowest
thread; when decoding threads share those cores (``embed_audio_files``), every such wait is lost work.
Whole batches in as many threads as torch may use, each batch on one intra-op thread, have no barrier
to wait at: 2 such threads beside 2 decoding threads embedded 400 real clips with the default model
1.08-1.16x as fast as one batch at a time (compiled fp32 and bf16, eager fp32), with the same embeddings
(docs/speed.md, "Batches side by side for the default model's files/s"). Heavy encoders lose that way,
so an encoder opts in (``ClapModel.cpu_batches_side_by_side``).

Every batch runs on one thread, and a lone batch in the calling thread as before: by position, never by
timing, so a run's outputs are the same each time. (The last batch once got every thread; it then shared
the cores with the batches still running, and one thread for it embedded 64 AudioCaps files 1.05-1.06x
as fast, 400 ESC-50 clips 1.00-1.02x, the same embeddings: docs/speed.md, "The last batch on one
thread".)
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


def _one_thread() -> None:
    torch.set_num_threads(1)


def _call(fn: Callable[[T], R], item: T) -> R:
    if torch.get_num_threads() != 1:  # ``fn`` may have changed it for its thread
        torch.set_num_threads(1)
    return fn(item)


def in_order(fn: Callable[[T], R], items: Iterable[T], threads: int) -> Iterator[R]:
    """``fn(item)`` for each item, yielded in the items' order.

    With ``threads`` > 1 and more than one item, up to ``threads`` items run at once in worker threads,
    each with torch on one intra-op thread, and at most ``threads + 1`` items are handed out ahead of the
    consumer (the second item is read before the first starts, to know whether it is alone). A single
    item, or ``threads`` <= 1, runs in the calling thread as it is. ``fn`` runs without the caller's
    thread-local state (``torch.inference_mode`` included): it sets what it needs. torch's thread count,
    which the workers change, is restored when the iteration ends; threads started meanwhile elsewhere
    begin with one intra-op thread.
    """
    iterator = iter(items)
    if threads <= 1:
        yield from map(fn, iterator)
        return
    first = list(itertools.islice(iterator, 2))
    if len(first) < 2:  # nothing, or a lone item: as the caller would run it
        yield from map(fn, first)
        return
    saved = torch.get_num_threads()
    pending: deque[Future[R]] = deque()
    pool = ThreadPoolExecutor(threads, thread_name_prefix="openclap-batch", initializer=_one_thread)
    try:
        for item in itertools.chain(first, iterator):
            pending.append(pool.submit(_call, fn, item))
            while len(pending) > threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # an error or an early stop: what has not started never does
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(saved)
