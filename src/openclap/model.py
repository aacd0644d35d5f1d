"""ClapModel: log-mel front end + audio encoder + text encoder + projections + learnable temperature.

```
wave [B, N] --frontend--> [B, n_mels, T] --audio_encoder--> [B, D_audio] --audio_projection--> [B, D]
texts --tokenize--> ids, mask [B, L] --text_encoder--> [B, D_text] --text_projection--> [B, D]
```
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from openclap.audio.encoders import build_audio_encoder
from openclap.audio.frontend import build_frontend
from openclap.audio.fusion import FusionBatch, fusion_mel, num_frames
from openclap.audio.preprocess import AudioPreprocessor
from openclap.compiled import MAX_BATCH
from openclap.config import AudioFrontendConfig, ClapConfig
from openclap.device import check_compiler
from openclap.layers import build_projection
from openclap.onednn import route_linears
from openclap.text.tower import TextEncoder, load_tokenizer, text_width

MelAugment = Callable[[torch.Tensor], torch.Tensor]  # log-mel [B, n_mels, T] -> same shape (SpecAugment)


def audio_tower_features(
    frontend: nn.Module,
    audio_encoder: nn.Module,
    config: AudioFrontendConfig,
    wave: torch.Tensor | FusionBatch,
    mel_augment: MelAugment | None = None,
) -> torch.Tensor:
    """The one audio forward: log-mel (float32, outside autocast) -> ``mel_augment`` (training only)
    -> audio encoder -> pooled features [B, D_audio]. ``ClapModel``, the trainer and the fine-tuning
    protocol's copy of the audio tower all run it. A fusion input's 4 channels are augmented as
    separate log-mels."""
    fusion = isinstance(wave, FusionBatch)
    device = (wave.waves[0] if fusion else wave).device
    longer = None
    with torch.autocast(device_type=device.type, enabled=False):
        if isinstance(wave, FusionBatch):
            frames = num_frames(config.clip_samples, config.hop_length)
            mel, longer = fusion_mel(frontend, wave, frames, antialias=config.fusion_shrink == "antialias")
        else:
            mel = frontend(wave.float())  # [B, n_mels, T]
    if mel_augment is not None:
        mel = mel_augment(mel.flatten(0, 1)).view_as(mel) if fusion else mel_augment(mel)
    return audio_encoder(mel, longer) if fusion else audio_encoder(mel)


#: Inference precisions: ``bf16`` runs the audio encoder, the text tower and the projections under
#: ``torch.autocast(dtype=torch.bfloat16)`` (CPU or CUDA); the log-mel front end and the final
#: normalisation stay outside autocast (a dB front end's STFT in float32 under bf16, in its
#: ``stft_dtype`` under fp32), and embeddings are returned as float32 either way.
PRECISIONS = ("fp32", "bf16")

#: ``encode_audio`` on a CPU without gradients runs a larger batch a few clips at a time: the activations
#: of a large batch outgrow the caches. How many clips is the encoder's: its class attribute
#: ``cpu_chunk`` maps a precision to a number of clips (measured per architecture, docs/speed.md
#: "Batches run a few clips at a time"); this many where an encoder sets none. The outputs are the same.
CPU_CHUNK = 16


class ClapModel(nn.Module):
    def __init__(self, config: ClapConfig, load_text_weights: bool = True, text: bool = True) -> None:
        """``load_text_weights=False`` skips reading pretrained text weights (a checkpoint follows).
        ``text=False`` builds no text tower (``text_encoder`` is None; the text projection stays): an
        audio-only model, seconds faster to create, for embedding audio; text methods then raise.
        On an x86 CPU its fp32 linear layers compute with oneDNN at inference (``openclap.onednn``)."""
        super().__init__()
        self.config = config
        self.frontend = build_frontend(config.audio)
        self.audio_encoder = build_audio_encoder(config.audio_encoder, config.audio)
        if config.audio.fusion_shrink is not None and not getattr(self.audio_encoder, "fusion", False):
            raise ValueError("audio.fusion_shrink needs an HTS-AT audio encoder with fusion=true")
        self.text_encoder = TextEncoder(config.text_encoder, load_weights=load_text_weights) if text else None
        text_dim = text_width(config.text_encoder) if self.text_encoder is None else self.text_encoder.out_dim
        self.audio_projection = build_projection(config.projection, self.audio_encoder.out_dim)
        self.text_projection = build_projection(config.projection, text_dim)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init)))
        if config.separate_logit_scales:
            self.logit_scale_t = nn.Parameter(torch.tensor(float(config.logit_scale_init)))
        self.preprocess = AudioPreprocessor(config.audio)
        self._tokenizer: Any = None
        self.precision = "fp32"
        self.compiled = False  # compile_towers() was called
        self._compiled_audio: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {}  # precision -> package
        self._compiled_in_place = False  # the audio modules went through torch.compile
        self._compiled_versions: tuple[tuple[int, int], ...] = ()  # _audio_versions() the packages match
        route_linears(self)  # fp32 inference linears through oneDNN on x86 CPUs (openclap.onednn)

    # ----- precision ---------------------------------------------------------------------------------
    def set_precision(self, precision: str) -> ClapModel:
        """Inference precision of ``encode_audio`` / ``encode_text``: ``fp32`` (default) or ``bf16``
        (which also runs a dB front end's STFT in float32: ``LogMel.reduced_precision``)."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r} is not valid; choose one of {list(PRECISIONS)}")
        self.precision = precision
        if hasattr(self.frontend, "reduced_precision"):  # LogMel: float32 STFT under bf16
            self.frontend.reduced_precision = precision != "fp32"
        return self

    def compile_towers(self, text: bool = False, log: Callable[[str], Any] | None = None) -> ClapModel:
        """Compile the audio path for inference (``openclap.compiled``), in the current precision.

        On a CPU (every family but LAION's fusion models) ``encode_audio`` then runs an AOTInductor
        package cached on disk per weights, precision and machine: the first call for a model compiles it
        (30-60 s; ``log`` is told), later processes load it in milliseconds. Elsewhere the front end,
        encoder and projection are compiled in place with ``torch.compile`` (at their first batch; the
        batch dimension dynamic). ``text``: the text tower too, in place. Weights and state-dict keys stay;
        embeddings within float rounding of eager (see docs/speed.md). Needs a C++ compiler on a CPU
        (``g++`` or ``clang++``, or ``$CXX``). Inference only: training and gradients use the eager path;
        ``set_precision`` to a precision not yet compiled falls back to eager until compiled again, and
        so does any change to the audio side's weights (loading, a training step: torch's version
        counters tell), which drops the packages."""
        from openclap.compiled import compiled_audio

        check_compiler(self.logit_scale.device)
        function = compiled_audio(self, log)
        if function is not None:
            if self._audio_versions() != self._compiled_versions:
                self._compiled_audio.clear()  # packages of other precisions were built from older weights
            self._compiled_audio[self.precision] = function
            self._compiled_versions = self._audio_versions()
        else:
            for module in (self.frontend, self.audio_encoder, self.audio_projection):
                module.compile(dynamic=None)
            self._compiled_in_place = True
        if text and self.text_encoder is not None:
            for module in (self.text_encoder, self.text_projection):
                module.compile(dynamic=None)
        self.compiled = True
        return self

    def _audio_versions(self) -> tuple[tuple[int, int], ...]:
        """(identity, version counter) of every audio-side tensor: changes when any is replaced or
        modified in place, or a module is added or replaced. Read from each module's own dicts, which
        ``parameters()`` / ``buffers()`` walk with far more machinery: 33 against 163 us for the default
        model's 171 tensors, asked once per ``encode_audio`` call."""
        out: list[tuple[int, int]] = []
        stack: list[nn.Module] = [self.frontend, self.audio_encoder, self.audio_projection]
        while stack:
            module = stack.pop()
            for tensors in (module._parameters, module._buffers):
                out.extend((id(t), t._version) for t in tensors.values() if t is not None)
            stack.extend(child for child in module._modules.values() if child is not None)
        return tuple(out)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        device = self.logit_scale.device.type
        if device not in ("cpu", "cuda"):
            raise ValueError(f"precision='bf16' runs on cpu or cuda, not {device}; use precision='fp32'")
        return torch.autocast(device, dtype=torch.bfloat16)

    # ----- audio -------------------------------------------------------------------------------------
    def prepare_waveforms(
        self, waves: Sequence[torch.Tensor], rng: np.random.RandomState | int | None = None
    ) -> torch.Tensor | FusionBatch:
        """Fit mono clips at ``config.audio.sample_rate`` to the clip length (deterministic): [B, N].

        Fusion models (``audio.fusion_shrink``) keep long clips whole and return a ``FusionBatch``
        (``rng``: seeded draws of its local chunks, as in training). See ``AudioPreprocessor``.
        """
        return self.preprocess.prepare(waves, rng)

    def audio_features(
        self, wave: torch.Tensor | FusionBatch, mel_augment: MelAugment | None = None
    ) -> torch.Tensor:
        """[B, N] waveform (or a ``FusionBatch``) -> pooled audio-encoder features [B, D_audio]."""
        if self._compiled_in_place and isinstance(wave, torch.Tensor) and wave.shape[0] > 1:
            torch._dynamo.mark_dynamic(wave, 0)  # one compiled graph for every batch size above 1
        with self._autocast():  # audio_tower_features keeps the front end out of it
            return audio_tower_features(
                self.frontend, self.audio_encoder, self.config.audio, wave, mel_augment
            )

    def project_audio(self, features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Pooled audio features [B, D_audio] -> audio embeddings [B, D]."""
        with self._autocast():
            emb = self.audio_projection(features)
        if self.precision != "fp32":  # inference in bf16 hands back float32 embeddings
            emb = emb.float()
        return F.normalize(emb, dim=-1) if normalize else emb

    def encode_audio(self, wave: torch.Tensor | FusionBatch, normalize: bool = True) -> torch.Tensor:
        """[B, N] waveform at the model's sample rate -> audio embeddings [B, D] (L2-normalised); through
        the compiled package when ``compile_towers`` built one for this precision and the call allows it
        (no gradients, eval mode, clips of the config's length). On a CPU without gradients a batch of
        more than ``cpu_chunk()`` clips runs that many at a time (faster; the same outputs)."""
        compiled = self._audio_package()
        if isinstance(wave, torch.Tensor) and wave.device.type == "cpu" and not torch.is_grad_enabled():
            chunk = self.cpu_chunk()
            if wave.shape[0] > chunk:
                parts = wave.split(chunk)
                return torch.cat([self._encode_audio(part, normalize, compiled) for part in parts])
        return self._encode_audio(wave, normalize, compiled)

    def _audio_package(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """This precision's compiled package, if one is built and the audio side's weights are still the
        ones it holds (else every package is dropped: they hold the old ones)."""
        compiled = self._compiled_audio.get(self.precision)
        if compiled is not None and self._audio_versions() != self._compiled_versions:
            self._compiled_audio.clear()
            compiled = None
        return compiled

    def _encode_audio(
        self,
        wave: torch.Tensor | FusionBatch,
        normalize: bool,
        compiled: Callable[[torch.Tensor], torch.Tensor] | None,
    ) -> torch.Tensor:
        """``encode_audio`` of one chunk: through ``compiled`` where the call allows it, else eager."""
        if (
            compiled is not None
            and normalize
            and isinstance(wave, torch.Tensor)
            and wave.dim() == 2
            and wave.shape[-1] == self.config.audio.clip_samples
            and 1 <= wave.shape[0] <= MAX_BATCH
            and not self.training
            and not torch.is_grad_enabled()
        ):
            return compiled(wave.float())
        return self.project_audio(self.audio_features(wave), normalize)

    def cpu_batches_side_by_side(self) -> bool:
        """Whether this model's batches run faster side by side on a CPU, each on one intra-op thread
        (``openclap.batch_threads``), than one at a time on every thread: the audio encoder's
        ``cpu_batches_side_by_side`` (measured per architecture), else False."""
        return bool(getattr(self.audio_encoder, "cpu_batches_side_by_side", False))

    def cpu_chunk(self) -> int:
        """Clips per forward pass of ``encode_audio`` on a CPU at inference: the audio encoder's
        ``cpu_chunk_one_thread`` for the current precision when its compiled package runs on one
        intra-op thread (as batches side by side do) and it gives one, else its ``cpu_chunk``, else
        ``CPU_CHUNK``."""
        if torch.get_num_threads() == 1 and self.precision in self._compiled_audio:
            one_thread = getattr(self.audio_encoder, "cpu_chunk_one_thread", {})
            if self.precision in one_thread:
                return int(one_thread[self.precision])
        return int(getattr(self.audio_encoder, "cpu_chunk", {}).get(self.precision, CPU_CHUNK))

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
        if self.text_encoder is None:
            raise RuntimeError(
                f"{self.config.name} was created without its text tower (create_model(..., text=False)); "
                "create it with text=True to embed text"
            )
        return self.text_encoder(tokens["input_ids"], tokens["attention_mask"], tokens.get("token_type_ids"))

    def encode_text(
        self, texts: Sequence[str] | dict[str, torch.Tensor], normalize: bool = True
    ) -> torch.Tensor:
        """Texts (or a token dict) -> text embeddings [B, D] (L2-normalised)."""
        tokens = texts if isinstance(texts, dict) else self.tokenize(texts)
        device = self.logit_scale.device
        tokens = {k: v.to(device) for k, v in tokens.items()}
        with self._autocast():
            emb = self.text_projection(self.text_features(tokens))
        if self.precision != "fp32":  # inference in bf16 hands back float32 embeddings
            emb = emb.float()
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
