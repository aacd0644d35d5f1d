"""``export_onnx``: a ClapModel -> a folder of ONNX graphs that onnxruntime runs without torch.

The folder holds
- ``audio.onnx``: ``wave`` float32 [batch, samples] -> ``embedding`` float32 [batch, D] (front end included;
  ``samples`` is dynamic for CNN encoders and fixed to the clip length for HTS-AT and YAMNet);
- ``text.onnx``: ``input_ids``, ``attention_mask`` (, ``token_type_ids``) int64 [batch, tokens] ->
  ``embedding`` float32 [batch, D];
- ``audio.int8.onnx`` / ``text.int8.onnx``: the same with int8 weights (onnxruntime dynamic
  quantization of the linear layers, see ``quantize_int8``);
- ``tokenizer/``: the tokenizer files (when the model's tokenizer is available);
- ``openclap-onnx.json``: what the graphs expect (see ``describe``).
The folder is built beside ``out`` and moved into place when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from openclap.export.towers import AudioTower, TextTower
from openclap.model import ClapModel

__all__ = ["MANIFEST", "export_onnx"]

MANIFEST = "openclap-onnx.json"
TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # TextTower.forward's order
OPSET = 18


def _fixed_length(model: ClapModel) -> bool:
    # a Swin grid of fixed size; YAMNet's padding to whole patches is traced for the clip length
    return model.config.audio_encoder.type in ("htsat", "yamnet")


def _export(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    names: list[str],
    dynamic: dict[str, dict[int, str]],
    path: Path,
) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer notes on shape arithmetic, checked by the tests instead
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={**dynamic, "embedding": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )


def export_audio(model: ClapModel, path: Path) -> None:
    cfg = model.config.audio
    wave = torch.zeros(2, cfg.clip_samples)
    wave[:, :: max(1, cfg.sample_rate // 440)] = 0.5  # any signal: only the shapes are traced
    axes = {0: "batch"} if _fixed_length(model) else {0: "batch", 1: "samples"}
    _export(AudioTower(model), (wave,), ["wave"], {"wave": axes}, path)


def export_text(model: ClapModel, path: Path) -> list[str]:
    """Export the text tower; returns its input names."""
    vocab = int(model.text_encoder.model.config.vocab_size)
    ids = torch.arange(10, 22, dtype=torch.int64).remainder(vocab).reshape(2, 6)
    tokens = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if _wants_token_types(model):
        tokens["token_type_ids"] = torch.zeros_like(ids)
    names = [k for k in TEXT_INPUTS if k in tokens]
    _export(
        TextTower(model),
        tuple(tokens[k] for k in names),
        names,
        {k: {0: "batch", 1: "tokens"} for k in names},
        path,
    )
    return names


def _wants_token_types(model: ClapModel) -> bool:
    return int(getattr(model.text_encoder.model.config, "type_vocab_size", 0) or 0) > 1


def quantize_int8(src: Path, dst: Path, keep_float: tuple[str, ...] = ()) -> None:
    """onnxruntime dynamic quantization: int8 weights per output channel, activations quantized per call,
    for MatMul and Gemm (linear layers) only. Convolutions stay float (quantizing them moved
    openclap-small's audio embeddings to cosine 0.98 of fp32), and so does the front end; per-tensor
    weights moved MiniLM's text embeddings to cosine 0.90 (per channel: 0.98). Nodes whose names start
    with a ``keep_float`` prefix stay float too."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src), load_external_data=False).graph
    prefixes = ("/frontend/", *keep_float)
    frontend = [node.name for node in graph.node if node.name.startswith(prefixes)]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its "consider pre-processing" advice is for static quantization
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gemm"], nodes_to_exclude=frontend)
    finally:
        root.setLevel(level)


def describe(model: ClapModel, text_inputs: list[str], int8: bool, tokenizer: bool) -> dict[str, Any]:
    """The manifest: inputs, outputs and the host-side steps (clip fitting, tokenisation) of each graph."""
    audio, text = model.config.audio, model.config.text_encoder
    dim = model.config.projection.dim
    return {
        "format": "openclap-onnx/1",
        "model": model.config.name,
        "config": model.config.to_dict(),
        "embedding_dim": dim,
        "logit_scale": float(model.logit_scale.detach().exp()),
        "prompt_templates": list(model.config.prompt_templates),
        "audio": {
            "file": "audio.onnx",
            "int8_file": "audio.int8.onnx" if int8 else None,
            "inputs": [
                {
                    "name": "wave",
                    "dtype": "float32",
                    "shape": ["batch", audio.clip_samples if _fixed_length(model) else "samples"],
                }
            ],
            "outputs": [{"name": "embedding", "dtype": "float32", "shape": ["batch", dim]}],
            "sample_rate": audio.sample_rate,
            "clip_samples": audio.clip_samples,
            "fit": {"pad": audio.pad, "crop": audio.crop},
            "note": "mono waves at sample_rate, fitted to clip_samples (pad / crop as in 'fit') before the "
            "graph; embeddings are L2-normalised"
            + ("; fusion model: long-file fusion input not exported" if audio.fusion_shrink else ""),
        },
        "text": {
            "file": "text.onnx",
            "int8_file": "text.int8.onnx" if int8 else None,
            "inputs": [{"name": k, "dtype": "int64", "shape": ["batch", "tokens"]} for k in text_inputs],
            "outputs": [{"name": "embedding", "dtype": "float32", "shape": ["batch", dim]}],
            "tokenizer": "tokenizer" if tokenizer else None,
            "max_length": text.max_length,
            "append_text": text.append_text,
            "note": "right-padded token ids of text + append_text, truncated at max_length",
        },
    }


def _save_tokenizer(model: ClapModel, folder: Path) -> bool:
    try:
        tokenizer = model.tokenizer
    except (ValueError, FileNotFoundError):  # published models whose tokenizer does not ship
        return False
    tokenizer.save_pretrained(str(folder))
    return True


def export_onnx(model: ClapModel, out: str | os.PathLike[str], int8: bool = True) -> Path:
    """Write ``model``'s towers as ONNX (and int8 variants) into the folder ``out``; returns it.

    An existing ``out`` is replaced only if it is empty or an earlier export (it holds the manifest).
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ValueError(f"--out {out} exists and is not an openclap ONNX export; choose an empty folder")
    work = out.parent / f".{out.name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    model = model.float().eval()
    export_audio(model, work / "audio.onnx")
    text_inputs = export_text(model, work / "text.onnx")
    if int8:
        # the audio projection's first linear reads the encoder's raw features, whose dimensions differ in
        # scale by orders of magnitude for YAMNet (its trained heads fold a per-dimension scale into that
        # linear): one per-tensor activation scale there cost openclap-yamnet's audio embeddings cosine 0.56
        quantize_int8(work / "audio.onnx", work / "audio.int8.onnx", keep_float=("/projection/linear1/",))
        quantize_int8(work / "text.onnx", work / "text.int8.onnx")
    has_tokenizer = _save_tokenizer(model, work / "tokenizer")
    manifest = describe(model, text_inputs, int8, has_tokenizer)
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    os.replace(work, out)
    return out
