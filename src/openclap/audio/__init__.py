"""Audio input: decoding, resampling, clip policy and the log-mel front end (imported on first use)."""

from openclap._lazy import lazy_exports

_EXPORTS = {
    "AudioError": "openclap.audio.io",
    "load_audio": "openclap.audio.io",
    "load_mono": "openclap.audio.io",
    "resample": "openclap.audio.io",
    "to_mono": "openclap.audio.io",
    "fit_length": "openclap.audio.clip",
    "sliding_windows": "openclap.audio.clip",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
