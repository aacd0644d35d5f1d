"""Training data: manifests, caption builders, WebDataset shards, an audio cache and datasets."""

from openclap.data.builders import TableSpec, build_from_table, build_preset, render_captions
from openclap.data.cache import AudioCache
from openclap.data.datasets import ClipDataset, ClipSettings, EpochBatchSampler, ShardStream, collate_examples
from openclap.data.manifest import (
    CheckReport,
    ManifestEntry,
    ManifestError,
    check_entries,
    check_manifest,
    read_manifest,
    write_manifest,
)
from openclap.data.shards import ShardIndex, iter_samples, read_index, resolve_shards, write_shards

__all__ = [
    "AudioCache",
    "CheckReport",
    "ClipDataset",
    "ClipSettings",
    "EpochBatchSampler",
    "ManifestEntry",
    "ManifestError",
    "ShardIndex",
    "ShardStream",
    "TableSpec",
    "build_from_table",
    "build_preset",
    "check_entries",
    "check_manifest",
    "collate_examples",
    "iter_samples",
    "read_index",
    "read_manifest",
    "render_captions",
    "resolve_shards",
    "write_manifest",
    "write_shards",
]
