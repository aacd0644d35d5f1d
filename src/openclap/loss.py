"""Symmetric InfoNCE (CLIP / CLAP loss) with a learnable, clamped temperature, and its distributed form.

```
logits_per_audio = exp(clamp(s_a)) * audio_emb @ text_emb.T    # [B, B]: each clip against every caption
logits_per_text  = exp(clamp(s_t)) * text_emb @ audio_emb.T    # [B, B]: each caption against every clip
loss = (CE(logits_per_audio, arange(B)) + CE(logits_per_text, arange(B))) / 2
```
``s_t`` defaults to ``s_a`` (one shared temperature, msclap); LAION-style models learn a separate text
scale. Under DDP the embeddings of every rank are gathered with gradient so each rank's loss sees the
global batch; ``local_loss`` keeps only this rank's rows (against all columns), which needs less memory
and, averaged over ranks by DDP, gives the same gradient.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from openclap.distributed import all_gather_no_grad, all_gather_with_grad, current_info, is_distributed

MAX_LOGIT_SCALE = math.log(100.0)  # LAION / CLIP clamp: temperature never below 0.01


def _at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor if tensor.dtype in (torch.float32, torch.float64) else tensor.float()


def scale_from_logit(logit_scale: torch.Tensor, max_logit_scale: float = MAX_LOGIT_SCALE) -> torch.Tensor:
    """exp of the logit scale clamped to [0, max_logit_scale] (gradient flows inside the range)."""
    return _at_least_float32(logit_scale).clamp(0.0, max_logit_scale).exp()


def contrastive_logits(
    audio_emb: torch.Tensor,
    text_emb: torch.Tensor,
    audio_scale: torch.Tensor,
    text_scale: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled similarities: (audio rows vs text columns, text rows vs audio columns), >= float32."""
    audio, text = _at_least_float32(audio_emb), _at_least_float32(text_emb)
    return audio_scale * audio @ text.T, text_scale * text @ audio.T


def clap_loss(
    audio_emb: torch.Tensor,
    text_emb: torch.Tensor,
    logit_scale: torch.Tensor,
    logit_scale_t: torch.Tensor | None = None,
    max_logit_scale: float = MAX_LOGIT_SCALE,
) -> torch.Tensor:
    """Symmetric InfoNCE of one batch of matched pairs (row i of each tensor belongs together)."""
    if audio_emb.shape != text_emb.shape:
        raise ValueError(f"audio_emb {tuple(audio_emb.shape)} and text_emb {tuple(text_emb.shape)} differ")
    scale_a = scale_from_logit(logit_scale, max_logit_scale)
    scale_t = scale_a if logit_scale_t is None else scale_from_logit(logit_scale_t, max_logit_scale)
    per_audio, per_text = contrastive_logits(audio_emb, text_emb, scale_a, scale_t)
    labels = torch.arange(audio_emb.shape[0], device=audio_emb.device)
    return (F.cross_entropy(per_audio, labels) + F.cross_entropy(per_text, labels)) / 2


class ClapLoss(nn.Module):
    """The CLAP training loss; in a DDP job every rank's embeddings join the batch.

    ``gather_with_grad``: gather other ranks' embeddings with their gradient (exact gradient of the
    global-batch loss). Without it the other ranks' rows are constants, as in open_clip's default.
    ``local_loss``: each rank scores only its own rows against all gathered columns (labels offset by
    ``rank * B``); the mean of the ranks' losses equals the global-batch loss.
    """

    def __init__(
        self,
        local_loss: bool = False,
        gather_with_grad: bool = True,
        max_logit_scale: float = MAX_LOGIT_SCALE,
    ) -> None:
        super().__init__()
        self.local_loss = local_loss
        self.gather_with_grad = gather_with_grad
        self.max_logit_scale = max_logit_scale

    def forward(
        self,
        audio_emb: torch.Tensor,
        text_emb: torch.Tensor,
        logit_scale: torch.Tensor,
        logit_scale_t: torch.Tensor | None = None,
    ) -> torch.Tensor:
        with torch.autocast(device_type=audio_emb.device.type, enabled=False):
            audio, text = _at_least_float32(audio_emb), _at_least_float32(text_emb)
            return self._loss(audio, text, logit_scale, logit_scale_t)

    def _gather(self, emb: torch.Tensor) -> torch.Tensor:
        return all_gather_with_grad(emb) if self.gather_with_grad else all_gather_no_grad(emb)

    def _loss(
        self,
        audio_emb: torch.Tensor,
        text_emb: torch.Tensor,
        logit_scale: torch.Tensor,
        logit_scale_t: torch.Tensor | None,
    ) -> torch.Tensor:
        if not is_distributed():
            return clap_loss(audio_emb, text_emb, logit_scale, logit_scale_t, self.max_logit_scale)
        scale_a = scale_from_logit(logit_scale, self.max_logit_scale)
        scale_t = scale_a if logit_scale_t is None else scale_from_logit(logit_scale_t, self.max_logit_scale)
        all_audio, all_text = self._gather(audio_emb), self._gather(text_emb)  # [W * B, D]
        if self.local_loss:
            per_audio = scale_a * audio_emb @ all_text.T  # [B, W * B]
            per_text = scale_t * text_emb @ all_audio.T
            offset = current_info().rank * audio_emb.shape[0]
            labels = torch.arange(audio_emb.shape[0], device=audio_emb.device) + offset
        else:
            per_audio, per_text = contrastive_logits(all_audio, all_text, scale_a, scale_t)
            labels = torch.arange(all_audio.shape[0], device=audio_emb.device)
        return (F.cross_entropy(per_audio, labels) + F.cross_entropy(per_text, labels)) / 2


@torch.no_grad()
def clamp_logit_scales_(model: nn.Module, max_logit_scale: float = MAX_LOGIT_SCALE) -> None:
    """Clamp every ``logit_scale*`` parameter into [0, max_logit_scale] in place (after each step)."""
    for name, param in model.named_parameters():
        if name.rsplit(".", 1)[-1].startswith("logit_scale"):
            param.clamp_(0.0, max_logit_scale)
