"""Audio input: decoding, resampling, clip policy and the log-mel front end."""

from openclap.audio.clip import fit_length, sliding_windows
from openclap.audio.io import AudioError, load_audio, load_mono, resample, to_mono

__all__ = ["AudioError", "fit_length", "load_audio", "load_mono", "resample", "sliding_windows", "to_mono"]
