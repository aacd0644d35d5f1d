"""Training batches per epoch, resumable mid-epoch, from a manifest or from WebDataset shards."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, Protocol

from torch.utils.data import DataLoader

from openclap.data.datasets import ClipDataset, EpochBatchSampler, ShardStream, collate_examples

Batch = dict[str, Any]


class TrainBatches(Protocol):
    def batches_per_epoch(self, epoch: int) -> int: ...

    def iterate(self, epoch: int, skip: int) -> Iterator[Batch]: ...


class ManifestBatches:
    """Map-style: the sampler skips consumed batches without loading them."""

    def __init__(
        self,
        dataset: ClipDataset,
        batch_size: int,
        rank: int,
        world_size: int,
        seed: int,
        num_workers: int = 0,
    ) -> None:
        self.sampler = EpochBatchSampler(len(dataset), batch_size, rank, world_size, seed)
        self.loader = DataLoader(
            dataset,
            batch_sampler=self.sampler,
            num_workers=num_workers,
            collate_fn=collate_examples,
            persistent_workers=num_workers > 0,
        )

    def batches_per_epoch(self, epoch: int) -> int:
        return self.sampler.batches_per_epoch

    def iterate(self, epoch: int, skip: int) -> Iterator[Batch]:
        self.sampler.set_epoch(epoch, skip)
        return iter(self.loader)


class ShardBatches:
    """Streaming: a resumed epoch re-reads and discards its first ``skip`` batches (exact, not free)."""

    def __init__(self, stream: ShardStream, batch_size: int, num_workers: int = 0) -> None:
        self.stream = stream
        self.batch_size = batch_size
        self.num_workers = num_workers

    def batches_per_epoch(self, epoch: int) -> int:
        return self.stream.batches_per_epoch(epoch)

    def iterate(self, epoch: int, skip: int) -> Iterator[Batch]:
        self.stream.set_epoch(epoch)
        loader = DataLoader(
            self.stream,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            collate_fn=collate_examples,
            drop_last=True,
        )
        return itertools.islice(iter(loader), skip, None)
