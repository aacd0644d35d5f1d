"""Training data: manifests, caption builders, WebDataset shards, an audio cache and datasets.
Names are imported on first use, so registering ``openclap data`` costs no torch import."""

from openclap._lazy import lazy_exports

_EXPORTS = {
    "TableSpec": "openclap.data.builders",
    "build_from_table": "openclap.data.builders",
    "build_preset": "openclap.data.builders",
    "render_captions": "openclap.data.builders",
    "AudioCache": "openclap.data.cache",
    "ClipDataset": "openclap.data.datasets",
    "ClipSettings": "openclap.data.datasets",
    "EpochBatchSampler": "openclap.data.datasets",
    "ShardStream": "openclap.data.datasets",
    "collate_examples": "openclap.data.datasets",
    "CheckReport": "openclap.data.manifest",
    "ManifestEntry": "openclap.data.manifest",
    "ManifestError": "openclap.data.manifest",
    "check_entries": "openclap.data.manifest",
    "check_manifest": "openclap.data.manifest",
    "read_manifest": "openclap.data.manifest",
    "write_manifest": "openclap.data.manifest",
    "ShardIndex": "openclap.data.shards",
    "iter_samples": "openclap.data.shards",
    "read_index": "openclap.data.shards",
    "resolve_shards": "openclap.data.shards",
    "write_shards": "openclap.data.shards",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
