"""Training datasets: decode, resample, crop and pick a caption, with every random choice seeded.

Random crops and the caption picked for a clip come from a generator seeded by
``(seed, epoch, clip key)``, never from a shared stream, so a sample is the same whichever worker,
rank or resume point produces it. The map-style ``ClipDataset`` reads a manifest (optionally through an
``AudioCache``); ``ShardStream`` streams WebDataset shards split across ranks and workers.
A clip that cannot be decoded is skipped, replaced, and reported in the batch's ``skipped`` list.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, Sampler, get_worker_info

from openclap.audio.io import AudioError, load_mono, resample
from openclap.audio.preprocess import AudioPreprocessor, stack_waves
from openclap.config import AudioFrontendConfig
from openclap.data.cache import AudioCache
from openclap.data.manifest import ManifestEntry
from openclap.data.shards import ShardIndex, decode_audio_bytes, iter_samples
from openclap.seeding import derive_seed, seeded_generator

__all__ = [
    "BadDataError",
    "ClipDataset",
    "ClipSettings",
    "EpochBatchSampler",
    "ShardStream",
    "collate_examples",
    "derive_seed",
    "make_example",
    "seeded_generator",
]

MAX_CONSECUTIVE_BAD = 64


class BadDataError(RuntimeError):
    """Too many consecutive clips failed to decode: the data, not one clip, is broken."""


@dataclass(frozen=True)
class ClipSettings:
    """How a decoded clip becomes a training example: the model's front-end config (clip length, pad,
    crop, fusion), whether the window of a long clip is placed at random, and the run seed."""

    audio: AudioFrontendConfig
    seed: int = 0
    random_crop: bool = True  # False: the model's deterministic crop

    @classmethod
    def from_frontend(cls, audio: AudioFrontendConfig, seed: int, random_crop: bool = True) -> ClipSettings:
        return cls(audio, seed, random_crop)

    @property
    def sample_rate(self) -> int:
        return self.audio.sample_rate

    @property
    def preprocessor(self) -> AudioPreprocessor:
        return AudioPreprocessor(self.audio)


def make_example(
    wave: np.ndarray, captions: Sequence[str], key: object, epoch: int, settings: ClipSettings
) -> tuple[torch.Tensor, str, tuple[float, float]]:
    """Crop (or pad) a mono clip and pick one caption, seeded by (seed, epoch, key); the window is the
    model's ``AudioPreprocessor.window`` (a fusion model keeps a long clip whole).

    Also returns the span of the source clip the example holds, ``(start, end)`` in seconds (the whole
    clip when it was padded or kept whole), which crop-aware distillation targets use.
    """
    gen = seeded_generator(settings.seed, "example", epoch, key)
    caption = captions[int(torch.randint(len(captions), (1,), generator=gen))]
    clip, start = settings.preprocessor.window(torch.from_numpy(wave), gen, settings.random_crop)
    rate = settings.sample_rate
    span = (start / rate, (start + min(clip.shape[-1], len(wave))) / rate)
    return clip.contiguous(), caption, span


def collate_examples(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack waves [B, N] (zero-padded to the longest, with their ``lengths`` [B]: a fusion model's long
    clips are kept whole); keep captions, paths, keys, source spans and the skipped (path, problem) pairs."""
    wave, lengths = stack_waves([s["wave"] for s in samples])
    return {
        "wave": wave,
        "lengths": lengths,
        "captions": [s["caption"] for s in samples],
        "paths": [s["path"] for s in samples],
        "keys": [s["key"] for s in samples],
        "spans": [s["span"] for s in samples],
        "skipped": [item for s in samples for item in s["skipped"]],
    }


class ClipDataset(Dataset):
    """Map-style dataset over manifest entries; items are ``(epoch, index)`` pairs (or an index).

    A clip that fails to decode is replaced by the next one in the manifest (recorded in ``skipped``),
    so batches keep their size, which DDP's all-gather requires.
    """

    def __init__(
        self, entries: Sequence[ManifestEntry], settings: ClipSettings, cache_dir: str | None = None
    ) -> None:
        if not entries:
            raise ValueError("the dataset has no clips (check the manifest and the split name)")
        self.entries = list(entries)
        self.settings = settings
        self.cache = AudioCache(cache_dir, settings.sample_rate) if cache_dir else None

    def __len__(self) -> int:
        return len(self.entries)

    def load(self, index: int) -> np.ndarray:
        path = self.entries[index].audio
        return self.cache.load(path) if self.cache else load_mono(path, self.settings.sample_rate)

    def __getitem__(self, item: tuple[int, int] | int) -> dict[str, Any]:
        epoch, index = item if isinstance(item, tuple) else (0, item)
        skipped: list[tuple[str, str]] = []
        for attempt in range(min(MAX_CONSECUTIVE_BAD, len(self.entries))):
            current = (index + attempt) % len(self.entries)
            try:
                wave = self.load(current)
            except AudioError as err:
                skipped.append((err.source, err.problem))
                continue
            entry = self.entries[current]
            clip, caption, span = make_example(wave, entry.captions, current, epoch, self.settings)
            return {
                "wave": clip,
                "caption": caption,
                "path": entry.audio,
                "key": current,
                "span": span,
                "skipped": skipped,
            }
        raise BadDataError(f"{len(skipped)} consecutive clips failed to decode, e.g. {skipped[:3]}")


class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """Seeded per-epoch shuffling, split across ranks like ``DistributedSampler``, batched, resumable.

    Every rank gets ``len(dataset) // world_size`` indices (the tail is dropped so ranks stay equal)
    and only full batches. ``set_epoch(epoch, skip_batches)`` starts mid-epoch after a resume.
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        shuffle: bool = True,
    ) -> None:
        self.num_items, self.batch_size = num_items, batch_size
        self.rank, self.world_size = rank, world_size
        self.seed, self.shuffle = seed, shuffle
        self.epoch, self.skip_batches = 0, 0
        if self.batches_per_epoch < 1:
            raise ValueError(
                f"{num_items} clips are too few for one batch of {batch_size} on each of {world_size} ranks"
            )

    @property
    def batches_per_epoch(self) -> int:
        return (self.num_items // self.world_size) // self.batch_size

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch, self.skip_batches = epoch, skip_batches

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch - self.skip_batches)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        if self.shuffle:
            order = torch.randperm(self.num_items, generator=seeded_generator(self.seed, "order", self.epoch))
        else:
            order = torch.arange(self.num_items)
        per_rank = self.num_items // self.world_size
        mine = order[self.rank : per_rank * self.world_size : self.world_size].tolist()
        for b in range(self.skip_batches, self.batches_per_epoch):
            yield [(self.epoch, i) for i in mine[b * self.batch_size : (b + 1) * self.batch_size]]


class ShardStream(IterableDataset):
    """Stream WebDataset shards: shards are shuffled per epoch, dealt to ranks then to workers.

    Each (rank, worker) yields exactly ``quota`` examples per epoch (the smallest share, rounded down to
    whole batches), so every rank runs the same number of steps; a share that runs short because of bad
    clips wraps around to its first shard.
    """

    def __init__(
        self,
        index: ShardIndex,
        settings: ClipSettings,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 0,
        shuffle_buffer: int = 1000,
    ) -> None:
        super().__init__()
        self.index, self.settings, self.batch_size = index, settings, batch_size
        self.rank, self.world_size = rank, world_size
        self.num_workers = max(1, num_workers)
        self.shuffle_buffer = shuffle_buffer
        self.epoch = 0
        shares = world_size * self.num_workers
        if len(index.shards) < shares:
            raise ValueError(
                f"{len(index.shards)} shards cannot feed {world_size} ranks x {self.num_workers} workers; "
                "write more shards (smaller --samples-per-shard) or use fewer workers"
            )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def shares(self, epoch: int) -> list[list[int]]:
        """Shard indices of every (rank, worker) share, in rank-major order."""
        order = torch.randperm(
            len(self.index.shards), generator=seeded_generator(self.settings.seed, "shards", epoch)
        )
        ranks = [order[r :: self.world_size].tolist() for r in range(self.world_size)]
        return [shards[w :: self.num_workers] for shards in ranks for w in range(self.num_workers)]

    def quota(self, epoch: int) -> int:
        smallest = min(sum(self.index.counts[i] for i in share) for share in self.shares(epoch))
        return (smallest // self.batch_size) * self.batch_size

    def batches_per_epoch(self, epoch: int) -> int:
        return self.num_workers * self.quota(epoch) // self.batch_size

    def _stream(self, shard_ids: list[int], worker: int) -> Iterator[tuple[str, dict[str, bytes]]]:
        """Raw samples through a seeded shuffle buffer, cycling over the share's shards."""
        gen = seeded_generator(self.settings.seed, "buffer", self.epoch, self.rank, worker)
        paths = [self.index.paths()[i] for i in shard_ids]
        buffer: list[tuple[str, dict[str, bytes]]] = []
        cycle = 0
        while True:
            for path in paths:
                for key, group in iter_samples(path):
                    buffer.append((f"{path.name}/{key}/{cycle}", group))
                    if len(buffer) >= self.shuffle_buffer:
                        yield buffer.pop(int(torch.randint(len(buffer), (1,), generator=gen)))
            while buffer:
                yield buffer.pop(int(torch.randint(len(buffer), (1,), generator=gen)))
            cycle += 1

    def _example(self, key: str, group: dict[str, bytes]) -> dict[str, Any]:
        """Decode one raw sample; raises ``AudioError`` when its audio or JSON is unusable."""
        record = json.loads(group.get("json", b"{}") or b"{}")
        audio_ext = next((ext for ext in ("flac", "wav", "ogg", "mp3") if ext in group), None)
        source = str(record.get("audio") or key)
        if audio_ext is None or not record.get("captions"):
            raise AudioError(source, "shard sample lacks audio or captions")
        wave, rate = decode_audio_bytes(group[audio_ext], source)
        wave = resample(wave, rate, self.settings.sample_rate)
        clip, caption, span = make_example(wave, record["captions"], key, self.epoch, self.settings)
        return {"wave": clip, "caption": caption, "path": source, "key": key, "span": span, "skipped": []}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        if (info.num_workers if info is not None else 1) != self.num_workers:
            raise ValueError(
                f"ShardStream was built for {self.num_workers} workers but the DataLoader runs "
                f"{info.num_workers if info is not None else 0}; pass the same num_workers to both"
            )
        share = self.shares(self.epoch)[self.rank * self.num_workers + worker]
        quota, produced, skipped = self.quota(self.epoch), 0, []
        for key, group in self._stream(share, worker):
            if produced >= quota:
                return
            try:
                example = self._example(key, group)
            except (AudioError, ValueError) as err:
                skipped.append((getattr(err, "source", key), getattr(err, "problem", str(err))))
                if len(skipped) > MAX_CONSECUTIVE_BAD:
                    raise BadDataError(
                        f"{len(skipped)} consecutive bad samples, e.g. {skipped[:3]}"
                    ) from None
                continue
            example["skipped"], skipped = skipped, []
            produced += 1
            yield example
