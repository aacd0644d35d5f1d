"""msclap (Microsoft CLAP 2022 / 2023): ``torch.load(f)["model"]`` -> openclap.

Layout: ``audio_encoder.base[.htsat].*`` (Cnn14 or HTS-AT), ``audio_encoder.projection.*``,
``caption_encoder.base.*`` (BERT or GPT-2), ``caption_encoder.projection.*``, ``logit_scale``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from openclap.config import ClapConfig
from openclap.convert.common import ConversionError, KeyMap
from openclap.registry import get_config

FRONT_END = r"(?:spectrogram_extractor\.stft\.conv_(?:real|imag)\.weight|logmel_extractor\.melW)"
TEXT_IGNORE = [
    r"caption_encoder\.base\.embeddings\.position_ids",  # saved by older transformers, now a computed buffer
    r"caption_encoder\.base\.embeddings\.token_type_ids",
    r"caption_encoder\.base\.h\.\d+\.attn\.(?:bias|masked_bias)",  # GPT-2 causal mask of older transformers
]


def matches(state: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith("caption_encoder.") for k in state)


def variant(state: Mapping[str, torch.Tensor]) -> str:
    """``msclap-2023`` (HTS-AT under ``audio_encoder.base.htsat``) or ``msclap-2022`` (Cnn14)."""
    return "msclap-2023" if any(k.startswith("audio_encoder.base.htsat.") for k in state) else "msclap-2022"


def keymap(name: str) -> KeyMap:
    audio = r"audio_encoder\.base\.htsat\." if name == "msclap-2023" else r"audio_encoder\.base\."
    return KeyMap(
        rules=[
            (audio + r"(.+)", r"audio_encoder.\1"),
            (r"audio_encoder\.projection\.(.+)", r"audio_projection.\1"),
            (r"caption_encoder\.base\.(.+)", r"text_encoder.model.\1"),
            (r"caption_encoder\.projection\.(.+)", r"text_projection.\1"),
            (r"logit_scale", "logit_scale"),
        ],
        ignore=TEXT_IGNORE,
        derived=[audio + FRONT_END, audio + r".+\.(?:attn_mask|relative_position_index)"],
    )


def config_for(state: Mapping[str, torch.Tensor]) -> ClapConfig:
    name = variant(state)
    if name == "msclap-2022" and "audio_encoder.base.conv_block1.conv1.weight" not in state:
        raise ConversionError("msclap checkpoint with an unknown audio encoder (expected Cnn14 or HTS-AT)")
    return get_config(name)
