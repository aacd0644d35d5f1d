"""LAION-CLAP (``630k-*.pt``, ``music_*.pt``): ``torch.load(f)["state_dict"]`` (``module.*``) -> openclap.

Layout: ``audio_branch.*`` (HTS-AT with its torchlibrosa front end, and for fusion models
``patch_embed.mel_conv2d`` / ``patch_embed.fusion_model``), ``text_branch.*`` (RoBERTa),
``audio_projection.{0,2}``, ``text_projection.{0,2}``, ``logit_scale_a`` / ``logit_scale_t``, and the
``audio_transform`` / ``text_transform`` MLPs that do not enter the embeddings.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from openclap.config import AudioEncoderConfig, ClapConfig
from openclap.convert.common import ConversionError, KeyMap, count_blocks
from openclap.registry import get_config

KEYMAP = KeyMap(
    rules=[
        (r"audio_branch\.(.+)", r"audio_encoder.\1"),
        (r"text_branch\.(.+)", r"text_encoder.model.\1"),
        (r"(audio|text)_projection\.([02]\.(?:weight|bias))", r"\1_projection.\2"),
        (r"logit_scale_a", "logit_scale"),
        (r"logit_scale_t", "logit_scale_t"),
    ],
    ignore=[
        r"text_branch\.embeddings\.(?:position_ids|token_type_ids)",  # computed buffers in transformers
        r"(?:audio|text)_transform\..+",  # training-time MLPs, unused at inference
    ],
    derived=[
        r"audio_branch\.(?:spectrogram_extractor\.stft\.conv_(?:real|imag)\.weight|logmel_extractor\.melW)",
        r"audio_branch\..+\.(?:attn_mask|relative_position_index)",
    ],
)


def matches(state: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith("audio_branch.") for k in state)


def config_for(state: Mapping[str, torch.Tensor]) -> ClapConfig:
    """tiny / base from the patch-embedding width and the Swin depths; fusion from ``mel_conv2d``."""
    if "audio_branch.conv_block1.conv1.weight" in state:
        raise ConversionError("LAION checkpoints with a PANN (Cnn14) audio branch are not supported; "
                              "openclap converts the HTS-AT ones (630k-*, music_*)")
    proj = state.get("audio_branch.patch_embed.proj.weight")
    if proj is None:
        raise ConversionError("LAION checkpoint without audio_branch.patch_embed.proj.weight (not HTS-AT)")
    if "text_branch.embeddings.position_embeddings.weight" not in state or any(
        k.startswith("text_branch.layers.") for k in state
    ):
        raise ConversionError("LAION checkpoint with a text branch other than RoBERTa is not supported")
    fusion = "audio_branch.patch_embed.mel_conv2d.weight" in state
    embed_dim = int(proj.shape[0])
    depths = count_blocks(state, "audio_branch.")
    heads = [int(state[f"audio_branch.layers.{i}.blocks.0.attn.relative_position_bias_table"].shape[1])
             for i in range(len(depths))]
    if fusion:
        config = get_config("laion-htsat-tiny-fusion")
    else:
        config = get_config("laion-htsat-base" if embed_dim == 128 else "laion-htsat-tiny")
    params = dict(config.audio_encoder.params, embed_dim=embed_dim, depths=depths, num_heads=heads)
    if params != config.audio_encoder.params:
        config = config.replace(audio_encoder=AudioEncoderConfig(type="htsat", params=params),
                                name=f"{config.name}-custom")
    return config
