"""Published CLAP weights by name: a registry as data (``pretrained.json``), download through the
Hugging Face cache or plain HTTPS, checksum checks, one conversion kept in the cache."""

from openclap.hub.download import ChecksumError, DownloadError, cache_root
from openclap.hub.pretrained import WeightsNotFoundError, is_on_machine, pull, resolve_checkpoint
from openclap.hub.registry import PretrainedEntry, PublishedFile, find_entry, list_pretrained, load_registry

__all__ = [
    "ChecksumError",
    "DownloadError",
    "PretrainedEntry",
    "PublishedFile",
    "WeightsNotFoundError",
    "cache_root",
    "find_entry",
    "is_on_machine",
    "list_pretrained",
    "load_registry",
    "pull",
    "resolve_checkpoint",
]
