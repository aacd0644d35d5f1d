"""Batches side by side (openclap.batch_threads.in_order): order, thread counts by position, real
concurrency, bounded read-ahead, errors and early stops, and torch's thread count restored."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import torch

from openclap.batch_threads import in_order


@pytest.fixture(autouse=True)
def two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _where(item: int) -> tuple[int, str, int]:
    return item, threading.current_thread().name, torch.get_num_threads()


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("count", [0, 1, 2, 7])
def test_results_in_order_equal_a_plain_map(threads: int, count: int) -> None:
    assert list(in_order(lambda x: x * x, range(count), threads)) == [x * x for x in range(count)]


def test_each_batch_on_one_thread_the_last_too_a_lone_one_in_the_caller() -> None:
    caller = threading.current_thread().name
    for count in (2, 5):
        runs = list(in_order(_where, range(count), 3))
        assert [r[0] for r in runs] == list(range(count))
        assert all(name.startswith("openclap-batch") and n == 1 for _, name, n in runs)
    assert list(in_order(_where, [0], 3)) == [(0, caller, 2)]  # as if there were no threads
    assert all(name == caller and n == 2 for _, name, n in in_order(_where, range(3), 1))


def test_batches_really_run_at_the_same_time() -> None:
    both = threading.Barrier(2, timeout=30)  # the first two items wait for each other

    def meet(item: int) -> int:
        if item < 2:
            both.wait()
        return item

    assert list(in_order(meet, range(4), 2)) == [0, 1, 2, 3]


def test_items_are_read_a_bounded_distance_ahead() -> None:
    read: list[int] = []

    def source() -> Iterator[int]:
        for i in range(20):
            read.append(i)
            yield i

    for consumed, _ in enumerate(in_order(lambda x: x, source(), 2)):
        assert len(read) - consumed <= 2 + 1  # threads handed out + 1


def test_an_error_propagates_stops_the_rest_and_restores_torch_threads() -> None:
    started: list[int] = []

    def fail_at_three(item: int) -> int:
        started.append(item)
        if item == 3:
            raise ValueError("bad batch 3")
        return item

    got: list[int] = []
    with pytest.raises(ValueError, match="bad batch 3"):
        got.extend(in_order(fail_at_three, range(50), 2))
    assert got == [0, 1, 2] and max(started) < 10
    assert torch.get_num_threads() == 2
    assert not [t for t in threading.enumerate() if t.name.startswith("openclap-batch")]
    seen: list[int] = []
    fresh = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    fresh.start()
    fresh.join()
    assert seen == [2]  # a thread started afterwards gets the caller's count, not the workers' 1


def test_an_early_stop_restores_torch_threads() -> None:
    results = in_order(lambda x: x, range(10), 2)
    assert next(results) == 0
    results.close()
    assert torch.get_num_threads() == 2
    assert not [t for t in threading.enumerate() if t.name.startswith("openclap-batch")]
