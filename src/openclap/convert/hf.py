"""Hugging Face ``ClapModel`` folders (``laion/clap-htsat-unfused``, ``-fused``, ``larger_clap_*``).

The transformers conversion renamed LAION's keys (``audio_model.audio_encoder.*``, ``text_model.*``,
``*_projection.linear1/2``) and split every Swin ``qkv`` into ``query`` / ``key`` / ``value``; this
converter maps them back and rebuilds ``qkv`` by concatenation. Settings come from the folder's
``config.json`` and ``preprocessor_config.json`` when present, else from the registered presets.
HF checkpoints carry no AudioSet tagging head (``num_classes=0``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from openclap.config import AudioEncoderConfig, AudioFrontendConfig, ClapConfig, ProjectionConfig
from openclap.convert.common import ConversionError, KeyMap
from openclap.registry import get_config

ENC = r"audio_model\.audio_encoder\."
BLOCK = ENC + r"layers\.(\d+)\.blocks\.(\d+)\."
OUT_BLOCK = r"audio_encoder.layers.\1.blocks.\2."
QKV = re.compile(r"(" + ENC + r"layers\.\d+\.blocks\.\d+\.attention\.self\.)(query|key|value)\.(weight|bias)")
KEYMAP = KeyMap(
    rules=[
        (r"text_model\.(.+)", r"text_encoder.model.\1"),
        (r"(audio|text)_projection\.linear1\.(weight|bias)", r"\1_projection.0.\2"),
        (r"(audio|text)_projection\.linear2\.(weight|bias)", r"\1_projection.2.\2"),
        (r"logit_scale_a", "logit_scale"),
        (r"logit_scale_t", "logit_scale_t"),
        (ENC + r"batch_norm\.(.+)", r"audio_encoder.bn0.\1"),
        (ENC + r"((?:patch_embed|norm)\..+)", r"audio_encoder.\1"),
        (ENC + r"layers\.(\d+)\.downsample\.(.+)", r"audio_encoder.layers.\1.downsample.\2"),
        (BLOCK + r"layernorm_before\.(.+)", OUT_BLOCK + r"norm1.\3"),
        (BLOCK + r"layernorm_after\.(.+)", OUT_BLOCK + r"norm2.\3"),
        (BLOCK + r"attention\.self\.(relative_position_bias_table|relative_position_index)",
         OUT_BLOCK + r"attn.\3"),
        (BLOCK + r"attention\.self\.qkv\.(.+)", OUT_BLOCK + r"attn.qkv.\3"),
        (BLOCK + r"attention\.output\.dense\.(.+)", OUT_BLOCK + r"attn.proj.\3"),
        (BLOCK + r"intermediate\.dense\.(.+)", OUT_BLOCK + r"mlp.fc1.\3"),
        (BLOCK + r"output\.dense\.(.+)", OUT_BLOCK + r"mlp.fc2.\3"),
    ],
    ignore=[r"text_model\.embeddings\.(?:position_ids|token_type_ids)"],  # computed buffers
    derived=[BLOCK + r"attention\.self\.relative_position_index"],
)


def matches(state: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith("audio_model.audio_encoder.") for k in state)


def merge_qkv(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Concatenate ``attention.self.{query,key,value}.{weight,bias}`` into ``attention.self.qkv.*``
    (rows q, k, v: the order of LAION's fused projection)."""
    out: dict[str, torch.Tensor] = {}
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        m = QKV.fullmatch(key)
        if m:
            parts.setdefault(f"{m.group(1)}qkv.{m.group(3)}", {})[m.group(2)] = value
        else:
            out[key] = value
    for key, group in parts.items():
        if set(group) != {"query", "key", "value"}:
            raise ConversionError(f"{key}: needs query, key and value, found only {sorted(group)}")
        out[key] = torch.cat([group["query"], group["key"], group["value"]], dim=0)
    return out


def _read_json(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text())) if path.is_file() else {}


def config_for(state: Mapping[str, torch.Tensor], folder: Path | None = None) -> ClapConfig:
    """Preset ``hf-clap-htsat-unfused`` / ``-fused`` updated from ``config.json`` and the extractor's
    ``preprocessor_config.json`` in ``folder`` (when given)."""
    hf = _read_json(folder / "config.json") if folder else {}
    audio_cfg: dict[str, Any] = hf.get("audio_config") or {}
    text_cfg: dict[str, Any] = hf.get("text_config") or {}
    has_fusion_keys = "audio_model.audio_encoder.patch_embed.mel_conv2d.weight" in state
    fusion = bool(audio_cfg.get("enable_fusion", has_fusion_keys))
    config = get_config("hf-clap-htsat-fused" if fusion else "hf-clap-htsat-unfused")
    if audio_cfg.get("fusion_type", "aff_2d") not in (None, "aff_2d"):
        raise ConversionError(f"fusion_type {audio_cfg['fusion_type']!r} is not supported (only aff_2d)")
    params = dict(config.audio_encoder.params)
    for ours, theirs in (("embed_dim", "patch_embeds_hidden_size"), ("depths", "depths"),
                         ("num_heads", "num_attention_heads"), ("window_size", "window_size"),
                         ("spec_size", "spec_size"), ("patch_size", "patch_size")):
        if theirs in audio_cfg:
            value = audio_cfg[theirs]
            params[ours] = list(value) if isinstance(value, list | tuple) else value
    text = dict(config.text_encoder.hf_config or {})
    for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "hidden_act", "pad_token_id",
                "bos_token_id", "eos_token_id"):
        if key in text_cfg:
            text[key] = text_cfg[key]
    for cfg in (audio_cfg, text_cfg):
        if cfg.get("projection_hidden_act", "relu") != "relu":
            raise ConversionError(f"projection_hidden_act {cfg['projection_hidden_act']!r} is not supported")
    dim = int(hf.get("projection_dim", audio_cfg.get("projection_dim", config.projection.dim)))
    audio = _frontend(config.audio, _read_json(folder / "preprocessor_config.json") if folder else {})
    return config.replace(
        audio=audio,
        audio_encoder=AudioEncoderConfig(type="htsat", params=params),
        text_encoder=dataclasses.replace(config.text_encoder, hf_config=text),
        projection=ProjectionConfig(style="laion", dim=dim),
    )


def _frontend(audio: AudioFrontendConfig, pre: dict[str, Any]) -> AudioFrontendConfig:
    """Apply a ``ClapFeatureExtractor`` preprocessor config to the preset's front end."""
    if not pre:
        return audio
    pad = {"repeatpad": "repeatpad", "repeat": "repeat"}.get(pre.get("padding", "repeatpad"), "zero")
    changes: dict[str, Any] = {
        "sample_rate": int(pre.get("sampling_rate", audio.sample_rate)),
        "clip_seconds": float(pre.get("max_length_s", audio.clip_seconds)),
        "n_fft": int(pre.get("fft_window_size", audio.n_fft)),
        "hop_length": int(pre.get("hop_length", audio.hop_length)),
        "n_mels": int(pre.get("feature_size", audio.n_mels)),
        "f_min": float(pre.get("frequency_min", audio.f_min)),
        "f_max": float(pre.get("frequency_max", audio.f_max or 14000.0)),
        "top_db": pre.get("top_db", audio.top_db),
        "pad": pad,
    }
    return dataclasses.replace(audio, **changes)
