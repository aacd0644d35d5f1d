"""Published CLAP weights by name: a registry as data (``pretrained.json``), download through the
Hugging Face cache or plain HTTPS, checksum checks, one conversion kept in the cache."""

from openclap._lazy import lazy_exports

_EXPORTS = {
    "ChecksumError": "openclap.hub.download",
    "DownloadError": "openclap.hub.download",
    "cache_root": "openclap.hub.download",
    "WeightsNotFoundError": "openclap.hub.pretrained",
    "is_on_machine": "openclap.hub.pretrained",
    "pull": "openclap.hub.pretrained",
    "resolve_checkpoint": "openclap.hub.pretrained",
    "PretrainedEntry": "openclap.hub.registry",
    "PublishedFile": "openclap.hub.registry",
    "find_entry": "openclap.hub.registry",
    "list_pretrained": "openclap.hub.registry",
    "load_registry": "openclap.hub.registry",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)  # names imported on first use (pretrained: torch)
__all__ = sorted(_EXPORTS)
