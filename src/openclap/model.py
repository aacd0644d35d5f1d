"""ClapModel: log-mel front end + audio encoder + text encoder + projections + learnable temperature.

```
wave [B, N] --frontend--> [B, n_mels, T] --audio_encoder--> [B, D_audio] --audio_projection--> [B, D]
texts --tokenize--> ids, mask [B, L] --text_encoder--> [B, D_text] --text_projection--> [B, D]
```
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from openclap.audio.clip import fit_length
from openclap.audio.encoders import build_audio_encoder
from openclap.audio.frontend import LogMel
from openclap.audio.fusion import FusionBatch, fusion_mel, num_frames, prepare_fusion
from openclap.config import ClapConfig
from openclap.layers import build_projection
from openclap.text.tower import TextEncoder, load_tokenizer


class ClapModel(nn.Module):
    def __init__(self, config: ClapConfig, load_text_weights: bool = True) -> None:
        """``load_text_weights=False`` skips reading pretrained text weights (a checkpoint follows)."""
        super().__init__()
        self.config = config
        self.frontend = LogMel(config.audio)
        self.audio_encoder = build_audio_encoder(config.audio_encoder, config.audio)
        if config.audio.fusion_shrink is not None and not getattr(self.audio_encoder, "fusion", False):
            raise ValueError("audio.fusion_shrink needs an HTS-AT audio encoder with fusion=true")
        self.text_encoder = TextEncoder(config.text_encoder, load_weights=load_text_weights)
        self.audio_projection = build_projection(config.projection, self.audio_encoder.out_dim)
        self.text_projection = build_projection(config.projection, self.text_encoder.out_dim)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init)))
        if config.separate_logit_scales:
            self.logit_scale_t = nn.Parameter(torch.tensor(float(config.logit_scale_init)))
        self._tokenizer: Any = None

    # ----- audio -------------------------------------------------------------------------------------
    def prepare_waveforms(self, waves: Sequence[torch.Tensor]) -> torch.Tensor | FusionBatch:
        """Fit mono clips at ``config.audio.sample_rate`` to the clip length (deterministic): [B, N].

        Fusion models (``audio.fusion_shrink``) keep long clips whole and return a ``FusionBatch``.
        """
        cfg = self.config.audio
        if cfg.fusion_shrink is not None:
            return prepare_fusion(waves, cfg)
        batch = []
        for wave in waves:
            wave = torch.as_tensor(wave, dtype=torch.float32)
            if cfg.quantize_int16:  # LAION quantises to int16 before the model
                wave = (wave.clamp(-1.0, 1.0) * 32767.0).to(torch.int16).float() / 32767.0
            batch.append(fit_length(wave, cfg.clip_samples, pad=cfg.pad, crop=cfg.crop))
        return torch.stack(batch)

    def audio_features(self, wave: torch.Tensor | FusionBatch) -> torch.Tensor:
        """[B, N] waveform (or a ``FusionBatch``) -> pooled audio-encoder features [B, D_audio]."""
        if isinstance(wave, FusionBatch):
            cfg = self.config.audio
            mel, longer = fusion_mel(self.frontend, wave, num_frames(cfg.clip_samples, cfg.hop_length),
                                     antialias=cfg.fusion_shrink == "antialias")
            return self.audio_encoder(mel, longer)
        return self.audio_encoder(self.frontend(wave))

    def encode_audio(self, wave: torch.Tensor | FusionBatch, normalize: bool = True) -> torch.Tensor:
        """[B, N] waveform at the model's sample rate -> audio embeddings [B, D] (L2-normalised)."""
        emb = self.audio_projection(self.audio_features(wave))
        return F.normalize(emb, dim=-1) if normalize else emb

    # ----- text --------------------------------------------------------------------------------------
    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.config.text_encoder)
        return self._tokenizer

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenise (truncating at ``max_length``) and pad a batch of texts."""
        if isinstance(texts, str):
            raise TypeError("tokenize expects a list of strings, not one string")
        cfg = self.config.text_encoder
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"text #{i} is empty; every text needs at least one non-space character")
        texts = [t + cfg.append_text for t in texts]
        tokens = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=cfg.max_length, return_tensors="pt"
        )
        return {k: v for k, v in tokens.items() if k in ("input_ids", "attention_mask", "token_type_ids")}

    def text_features(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        """Token dict -> pooled text-encoder features [B, D_text]."""
        return self.text_encoder(tokens["input_ids"], tokens["attention_mask"], tokens.get("token_type_ids"))

    def encode_text(
        self, texts: Sequence[str] | dict[str, torch.Tensor], normalize: bool = True
    ) -> torch.Tensor:
        """Texts (or a token dict) -> text embeddings [B, D] (L2-normalised)."""
        tokens = texts if isinstance(texts, dict) else self.tokenize(texts)
        device = self.logit_scale.device
        tokens = {k: v.to(device) for k, v in tokens.items()}
        emb = self.text_projection(self.text_features(tokens))
        return F.normalize(emb, dim=-1) if normalize else emb

    # ----- joint -------------------------------------------------------------------------------------
    def forward(self, wave: torch.Tensor, tokens: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Training forward: normalised embeddings and the (unexponentiated) logit scale(s)."""
        out = {
            "audio_emb": self.encode_audio(wave),
            "text_emb": self.encode_text(tokens),
            "logit_scale": self.logit_scale,
        }
        if self.config.separate_logit_scales:
            out["logit_scale_t"] = self.logit_scale_t
        return out

    def similarity(self, audio_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """Scaled cosine similarity [N_audio, N_text] (embeddings are re-normalised here)."""
        sim = F.normalize(audio_emb, dim=-1) @ F.normalize(text_emb, dim=-1).T
        return self.logit_scale.exp() * sim
