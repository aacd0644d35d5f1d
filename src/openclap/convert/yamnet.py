"""YAMNet's weights as exported from TensorFlow -> openclap's torch ``YamNet``.

``recipes/default_model/yamnet_export.py`` writes ``yamnet.safetensors``: the SavedModel's variables under
their TensorFlow names (``layer1/conv/kernel``, ``layerN/depthwise_conv/depthwise_kernel``,
``layerN/{depthwise,pointwise}_conv/bn/{beta,moving_mean,moving_variance}``, ``layerN/pointwise_conv/kernel``,
``dense/{kernel,bias}``) in TensorFlow's layouts, the graph's front-end constants (``frontend/window``,
``frontend/mel_matrix``, checked here against openclap's own) and the class names in its metadata.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from openclap.audio.encoders.yamnet import YAMNET_FRONTEND, YamNet, Yamnet, YamnetLogMel
from openclap.checkpoint import load_state_strict
from openclap.config import ClapConfig
from openclap.convert.common import ConversionError
from openclap.model import ClapModel
from openclap.registry import get_config

FRONTEND_KEYS = ("frontend/window", "frontend/mel_matrix")
_BN = {"beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
# TensorFlow layer part -> (torch module of its kernel, torch module of its batch norm, kernel layout)
_PARTS = {
    "conv": ("layers.{i}.conv", "layers.{i}.bn", "hwio"),
    "depthwise_conv": ("layers.{i}.depthwise.conv", "layers.{i}.depthwise.bn", "depthwise"),
    "pointwise_conv": ("layers.{i}.pointwise", "layers.{i}.pointwise_bn", "hwio"),
}


def matches(state: Mapping[str, torch.Tensor]) -> bool:
    return "layer1/conv/kernel" in state


def torch_name(key: str) -> tuple[str, str | None] | None:
    """A TensorFlow variable name -> (torch state-dict key, layout change), or None if it is not YAMNet's."""
    if key in ("dense/kernel", "dense/bias"):
        return ("classifier.weight", "dense") if key == "dense/kernel" else ("classifier.bias", None)
    match = re.fullmatch(r"layer(\d+)/(\w+)/(kernel|depthwise_kernel|bn/\w+)", key)
    if match is None or match[2] not in _PARTS:
        return None
    kernel, bn, layout = (s.format(i=int(match[1]) - 1) for s in _PARTS[match[2]])  # TF counts from 1
    if match[3].startswith("bn/"):
        leaf = _BN.get(match[3][3:])
        return (f"{bn}.{leaf}", None) if leaf else None
    return f"{kernel}.weight", layout


def _relayout(value: torch.Tensor, layout: str | None) -> torch.Tensor:
    if layout == "hwio":  # [kh, kw, in, out] -> [out, in, kh, kw]
        return value.permute(3, 2, 0, 1)
    if layout == "depthwise":  # [kh, kw, channels, 1] -> [channels, 1, kh, kw]
        return value.permute(2, 3, 0, 1)
    if layout == "dense":  # [in, out] -> [out, in]
        return value.T
    return value


def yamnet_state(tensors: Mapping[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """TensorFlow-named tensors -> a ``YamNet`` state dict (batch-norm scales are 1: YAMNet has none)."""
    state: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in tensors.items():
        if key in FRONTEND_KEYS:
            continue
        mapped = torch_name(key)
        if mapped is None:
            unknown.append(key)
            continue
        state[mapped[0]] = _relayout(value, mapped[1]).contiguous()
    if unknown:
        raise ConversionError(f"{source}: keys that are not YAMNet's: {', '.join(unknown[:10])}")
    for name in [k for k in state if k.endswith(".running_var")]:
        prefix = name.removesuffix("running_var")
        state[prefix + "weight"] = torch.ones_like(state[name])
        state[prefix + "num_batches_tracked"] = torch.tensor(0)
    return state


def check_frontend(tensors: Mapping[str, torch.Tensor], frontend: YamnetLogMel, source: str) -> None:
    """The window and mel matrix of TensorFlow's graph must equal the ones openclap computes."""
    ours = {"frontend/window": frontend.window, "frontend/mel_matrix": frontend.mel_fb}
    for key in FRONTEND_KEYS:
        if key not in tensors:
            raise ConversionError(f"{source}: {key} is missing (export it with yamnet_export.py)")
        diff = (tensors[key].double() - ours[key].double()).abs().max().item()
        if diff > 1e-4:  # TensorFlow computed its matrix in float32: 8e-6 off float64
            raise ConversionError(f"{source}: {key} differs from openclap's by {diff:.2e}")


def load_yamnet(path: str | os.PathLike[str]) -> Yamnet:
    """The exported ``yamnet.safetensors`` -> ``Yamnet`` (front end + network + class names), eval mode."""
    source = str(path)
    if not Path(path).is_file():
        raise ConversionError(
            f"{source}: file not found (export it with recipes/default_model/yamnet_export.py)"
        )
    try:
        with safe_open(source, framework="pt") as fh:
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open is no dict)
            metadata = fh.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise ConversionError(f"{source}: not a readable safetensors file ({err})") from err
    if not matches(tensors):
        raise ConversionError(f"{source}: not a YAMNet export (no layer1/conv/kernel)")
    names = json.loads(metadata.get("class_names", "[]"))
    model = Yamnet(YAMNET_FRONTEND, class_names=names)
    check_frontend(tensors, model.frontend, source)
    load_state_strict(model.net, yamnet_state(tensors, source), source)
    return model.eval()


def clap_from_yamnet(
    tensors: Mapping[str, torch.Tensor], source: str, config: ClapConfig | None = None
) -> ClapModel:
    """A CLAP model (``yamnet-minilm`` unless ``config`` is given) whose audio tower is YAMNet's weights.

    The text tower is the config's (the pretrained MiniLM) and both projections are freshly initialised
    with seed 0: a starting point for contrastive training (the trainer's ``init_checkpoint``), which
    cannot rank texts before it is trained. ``openclap convert yamnet.safetensors OUT --from yamnet``.
    """
    config = config or get_config("yamnet-minilm")
    if config.audio_encoder.type != "yamnet":
        raise ConversionError(f"{source}: YAMNet weights need a config with audio_encoder type 'yamnet'")
    check_frontend(tensors, YamnetLogMel(config.audio), source)  # before the text tower loads
    state = yamnet_state(tensors, source)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = ClapModel(config)
    load_state_strict(model.audio_encoder, state, source)
    return model.eval()


__all__ = ["YamNet", "Yamnet", "clap_from_yamnet", "load_yamnet", "yamnet_state"]
