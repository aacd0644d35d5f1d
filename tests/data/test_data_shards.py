from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from openclap.audio.io import load_mono
from openclap.config import AudioFrontendConfig
from openclap.data.datasets import ClipSettings, ShardStream, collate_examples
from openclap.data.manifest import ManifestEntry
from openclap.data.shards import decode_audio_bytes, expand_braces, iter_samples, resolve_shards, write_shards


def test_write_and_read_shards(tone_entries: list[ManifestEntry], tmp_path: Path) -> None:
    entries = [*tone_entries, ManifestEntry(str(tmp_path / "missing.wav"), ("gone",))]
    index = write_shards(entries, tmp_path / "shards", samples_per_shard=3, sample_rate=8000)
    assert index.counts == [3, 3, 2] and [p for p, _ in index.skipped] == [str(tmp_path / "missing.wav")]
    assert resolve_shards(tmp_path / "shards").counts == [3, 3, 2]
    assert resolve_shards(str(tmp_path / "shards" / "shard-{000000..000002}.tar")).total == 8
    key, group = next(iter_samples(index.paths()[0]))
    assert key == "000000000" and set(group) == {"flac", "json"}
    record = json.loads(group["json"])
    assert record["captions"] == list(tone_entries[0].captions) and record["sample_rate"] == 8000
    wave, rate = decode_audio_bytes(group["flac"], key)
    assert rate == 8000
    assert np.allclose(wave, load_mono(tone_entries[0].audio, 8000), atol=1e-4)  # 16-bit FLAC


def test_expand_braces() -> None:
    assert expand_braces("a-{08..10}.tar") == ["a-08.tar", "a-09.tar", "a-10.tar"]
    assert expand_braces("{x,y}-{1..2}") == ["x-1", "x-2", "y-1", "y-2"]


def _keys(stream: ShardStream, workers: int) -> list[list[str]]:
    loader = DataLoader(
        stream, batch_size=2, num_workers=workers, collate_fn=collate_examples, drop_last=True
    )
    return [batch["keys"] for batch in loader]


def test_stream_splits_across_ranks_and_workers(tone_entries: list[ManifestEntry], tmp_path: Path) -> None:
    index = write_shards(tone_entries * 2, tmp_path / "shards", samples_per_shard=4)  # 4 shards
    settings = ClipSettings(
        AudioFrontendConfig(sample_rate=16000, clip_seconds=3000 / 16000, crop="center"), seed=5
    )
    streams = [
        ShardStream(index, settings, 2, rank=r, world_size=2, num_workers=2, shuffle_buffer=3)
        for r in range(2)
    ]
    per_rank = [_keys(s, 2) for s in streams]
    assert len(per_rank[0]) == len(per_rank[1]) == streams[0].batches_per_epoch(0) == 4
    seen = [k for batches in per_rank for batch in batches for k in batch]
    assert len(seen) == len(set(seen)) == 16  # every sample once, on one rank
    again = ShardStream(index, settings, 2, rank=0, world_size=2, num_workers=2, shuffle_buffer=3)
    assert _keys(again, 2) == per_rank[0]  # seeded: same epoch, same order
    again.set_epoch(1)
    assert _keys(again, 2) != per_rank[0]
    with pytest.raises(ValueError, match="built for 2 workers"):
        _keys(again, 0)
    with pytest.raises(ValueError, match="cannot feed"):
        ShardStream(index, settings, 2, world_size=4, num_workers=2)


def test_shards_are_webdataset_compatible(tone_entries: list[ManifestEntry], tmp_path: Path) -> None:
    wds = pytest.importorskip("webdataset")
    index = write_shards(tone_entries, tmp_path / "shards", samples_per_shard=8)
    samples = list(wds.WebDataset([str(p) for p in index.paths()], shardshuffle=False))
    assert len(samples) == 8 and {"flac", "json"} <= set(samples[0])
    assert torch.is_tensor(torch.from_numpy(decode_audio_bytes(samples[0]["flac"], "x")[0]))
