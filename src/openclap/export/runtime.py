"""``OnnxClap``: embeddings from an ``export_onnx`` folder with onnxruntime (no torch model needed).

The host-side steps are those of ``ClapModel``: waves are fitted to the clip length with
``openclap.audio.clip.fit_length`` (the config's pad / crop), texts get ``append_text`` and are tokenised
with the exported tokenizer, right-padded and truncated at ``max_length``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from openclap.audio.clip import fit_length
from openclap.export.onnx import MANIFEST

__all__ = ["OnnxClap"]


def _session(path: Path, threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxClap:
    """Audio and text embeddings of an exported model; ``int8=True`` uses the quantized graphs."""

    def __init__(
        self, folder: str | os.PathLike[str], int8: bool = False, threads: int | None = None
    ) -> None:
        self.folder = Path(folder)
        manifest = self.folder / MANIFEST
        if not manifest.is_file():
            raise FileNotFoundError(f"{self.folder} is not an openclap ONNX export (no {MANIFEST})")
        self.manifest = json.loads(manifest.read_text(encoding="utf-8"))
        key = "int8_file" if int8 else "file"
        for tower in ("audio", "text"):
            if self.manifest[tower][key] is None:
                raise FileNotFoundError(f"{self.folder} has no int8 {tower} graph (exported without int8)")
        self.audio = _session(self.folder / self.manifest["audio"][key], threads)
        self.text = _session(self.folder / self.manifest["text"][key], threads)
        self._tokenizer: Any = None

    def embed_audio(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """Mono waves [N] at ``manifest['audio']['sample_rate']`` -> embeddings [len(waves), D]."""
        audio = self.manifest["audio"]
        batch = torch.stack(
            [
                fit_length(torch.as_tensor(np.asarray(w, np.float32)), audio["clip_samples"], **audio["fit"])
                for w in waves
            ]
        )
        return self.audio.run(None, {"wave": batch.numpy()})[0]

    def embed_tokens(self, tokens: dict[str, np.ndarray]) -> np.ndarray:
        """Token arrays (int64 [B, L]) -> text embeddings [B, D]; missing token type ids are zeros."""
        names = [i["name"] for i in self.manifest["text"]["inputs"]]
        ids = np.asarray(tokens["input_ids"], np.int64)
        feed = {k: np.asarray(tokens[k], np.int64) if k in tokens else np.zeros_like(ids) for k in names}
        return self.text.run(None, feed)[0]

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            folder = self.manifest["text"]["tokenizer"]
            if folder is None:
                raise ValueError(f"{self.folder} has no tokenizer; feed token ids to embed_tokens")
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(str(self.folder / folder), local_files_only=True)
        return self._tokenizer

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> text embeddings [len(texts), D]."""
        text = self.manifest["text"]
        tokens = self.tokenizer(
            [t + text["append_text"] for t in texts],
            padding=True,
            truncation=True,
            max_length=text["max_length"],
            return_tensors="np",
        )
        return self.embed_tokens(dict(tokens))
