from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from openclap.config import AudioFrontendConfig
from openclap.data.cache import AudioCache
from openclap.data.datasets import (
    ClipDataset,
    ClipSettings,
    EpochBatchSampler,
    collate_examples,
    make_example,
)
from openclap.data.manifest import ManifestEntry


def settings(
    rate: int, samples: int, seed: int = 0, random_crop: bool = True, crop: str = "center"
) -> ClipSettings:
    return ClipSettings(
        AudioFrontendConfig(sample_rate=rate, clip_seconds=samples / rate, crop=crop), seed, random_crop
    )


SETTINGS = settings(16000, 4000, seed=3)


def test_examples_are_seeded_by_epoch_and_clip(tone_entries: list[ManifestEntry]) -> None:
    data = ClipDataset(tone_entries, SETTINGS)
    a, b = data[(0, 7)], data[(0, 7)]
    assert torch.equal(a["wave"], b["wave"]) and a["caption"] == b["caption"]
    assert a["wave"].shape == (4000,)
    crops = {tuple(data[(epoch, 7)]["wave"][:5].tolist()) for epoch in range(6)}
    captions = {data[(epoch, 7)]["caption"] for epoch in range(12)}
    assert len(crops) > 1 and captions == set(tone_entries[7].captions)
    fixed = ClipDataset(tone_entries, settings(16000, 4000, random_crop=False, crop="start", seed=3))
    assert len({tuple(fixed[(e, 7)]["wave"][:5].tolist()) for e in range(4)}) == 1


def test_examples_report_the_span_of_the_source_they_hold() -> None:
    wave = np.arange(10000, dtype=np.float32)  # 0.625 s at 16 kHz; each sample's value is its index
    for epoch in range(5):
        clip, _, (start, end) = make_example(wave, ["a"], 0, epoch, SETTINGS)
        first = int(clip[0])
        assert start == pytest.approx(first / 16000) and end == pytest.approx((first + 4000) / 16000)
    short = np.ones(1000, dtype=np.float32)  # padded: the example holds the whole source
    clip, _, span = make_example(short, ["a"], 0, 0, SETTINGS)
    assert clip.shape == (4000,) and span == (0.0, 1000 / 16000)


def test_bad_clips_are_replaced_and_reported(tone_entries: list[ManifestEntry], tmp_path: Path) -> None:
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"nope" * 100)
    entries = [
        tone_entries[0],
        ManifestEntry(str(broken), ("x",)),
        ManifestEntry(str(tmp_path / "gone.wav"), ("y",)),
    ]
    entries.append(tone_entries[1])
    data = ClipDataset(entries, SETTINGS)
    item = data[(0, 1)]
    assert item["path"] == tone_entries[1].audio
    assert [p for p, _ in item["skipped"]] == [str(broken), str(tmp_path / "gone.wav")]
    batch = collate_examples([data[(0, 0)], item])
    assert batch["wave"].shape == (2, 4000) and len(batch["skipped"]) == 2
    assert len(batch["spans"]) == 2 and all(end > start >= 0 for start, end in batch["spans"])


def test_sampler_splits_ranks_and_resumes_mid_epoch() -> None:
    samplers = [EpochBatchSampler(23, 3, rank=r, world_size=2, seed=1) for r in range(2)]
    for s in samplers:
        s.set_epoch(4)
    batches = [list(s) for s in samplers]
    assert [len(b) for b in batches] == [3, 3]  # 23 // 2 = 11 per rank -> 3 full batches
    flat = [[i for batch in b for _, i in batch] for b in batches]
    assert not set(flat[0]) & set(flat[1])
    assert all(epoch == 4 for b in batches for batch in b for epoch, _ in batch)
    samplers[0].set_epoch(4, skip_batches=2)
    assert list(samplers[0]) == batches[0][2:] and len(samplers[0]) == 1
    samplers[0].set_epoch(5)
    assert list(samplers[0]) != batches[0]
    with pytest.raises(ValueError, match="too few"):
        EpochBatchSampler(5, 4, world_size=2)


def test_cache_decodes_once(tone_entries: list[ManifestEntry], tmp_path: Path) -> None:
    cache = AudioCache(tmp_path / "cache", 8000)
    first = cache.load(tone_entries[2].audio)
    stored = cache.entry_path(tone_entries[2].audio)
    assert stored.is_file() and first.dtype == np.float32
    np.save(stored, np.full(3, 0.5, np.float32))  # prove the second load reads the cache
    assert np.array_equal(cache.load(tone_entries[2].audio), np.full(3, 0.5, np.float32))
    data = ClipDataset(tone_entries, settings(8000, 2000, seed=0), cache_dir=str(tmp_path / "cache2"))
    assert torch.equal(data[(0, 3)]["wave"], ClipDataset(tone_entries, settings(8000, 2000))[(0, 3)]["wave"])
