"""Single-process properties of the CLAP loss (the distributed equality is in test_distributed.py)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from openclap.loss import MAX_LOGIT_SCALE, ClapLoss, clamp_logit_scales_, clap_loss, scale_from_logit


def _pairs(batch: int = 6, dim: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    audio = F.normalize(torch.randn(batch, dim, generator=gen), dim=-1)
    text = F.normalize(torch.randn(batch, dim, generator=gen), dim=-1)
    return audio, text


def test_matches_hand_written_symmetric_cross_entropy() -> None:
    audio, text = _pairs()
    scale = torch.tensor(math.log(1 / 0.07))
    logits = scale.exp() * audio @ text.T
    labels = torch.arange(6)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    torch.testing.assert_close(clap_loss(audio, text, scale), expected)
    torch.testing.assert_close(ClapLoss()(audio, text, scale), expected)


def test_aligned_pairs_score_lower_than_shuffled() -> None:
    audio, _ = _pairs()
    scale = torch.tensor(3.0)
    aligned = clap_loss(audio, audio, scale)
    shuffled = clap_loss(audio, audio.roll(1, dims=0), scale)
    assert aligned < shuffled


def test_separate_scales_apply_per_direction() -> None:
    audio, text = _pairs()
    s_a, s_t = torch.tensor(2.0), torch.tensor(4.0)
    labels = torch.arange(6)
    expected = (
        F.cross_entropy(s_a.exp() * audio @ text.T, labels)
        + F.cross_entropy(s_t.exp() * text @ audio.T, labels)
    ) / 2
    torch.testing.assert_close(clap_loss(audio, text, s_a, s_t), expected)
    assert not torch.allclose(clap_loss(audio, text, s_a, s_t), clap_loss(audio, text, s_a))


def test_temperature_is_learnable_and_clamped() -> None:
    audio, text = _pairs()
    scale = torch.tensor(2.0, requires_grad=True)
    clap_loss(audio, text, scale).backward()
    assert scale.grad is not None and scale.grad != 0
    assert torch.isclose(scale_from_logit(torch.tensor(10.0)), torch.tensor(100.0))
    assert torch.isclose(scale_from_logit(torch.tensor(-3.0)), torch.tensor(1.0))
    model = torch.nn.Module()
    model.logit_scale = torch.nn.Parameter(torch.tensor(7.0))
    model.logit_scale_t = torch.nn.Parameter(torch.tensor(-1.0))
    clamp_logit_scales_(model)
    assert math.isclose(model.logit_scale.item(), MAX_LOGIT_SCALE, rel_tol=1e-6)
    assert model.logit_scale_t.item() == 0.0


def test_loss_is_float32_under_bf16_autocast() -> None:
    audio, text = _pairs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = ClapLoss()(audio.bfloat16(), text.bfloat16(), torch.tensor(2.0))
    assert loss.dtype == torch.float32
