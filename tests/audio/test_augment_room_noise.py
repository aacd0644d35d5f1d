"""Field-recording augmentations: coloured noise at the drawn SNR and spectral slope, synthetic rooms
with the drawn decay, both seeded, length- and level-preserving where promised."""

from __future__ import annotations

import math

import pytest
import torch

from openclap.audio.augment import add_noise, add_reverb, coloured_noise, room_response

RATE = 16000


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _tone(batch: int = 4, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(seconds * RATE)) / RATE
    return torch.stack([0.3 * torch.sin(2 * math.pi * (300 + 200 * b) * t) for b in range(batch)])


def test_noise_is_added_at_the_requested_snr_and_seeded() -> None:
    wave = _tone()
    noisy = add_noise(wave, 1.0, (10.0, 10.0), _gen())
    assert torch.equal(noisy, add_noise(wave, 1.0, (10.0, 10.0), _gen()))
    snr = 10 * torch.log10(wave.pow(2).mean(1) / (noisy - wave).pow(2).mean(1))
    assert torch.allclose(snr, torch.full_like(snr, 10.0), atol=0.01)
    assert torch.equal(add_noise(wave, 0.0, (10.0, 10.0), _gen()), wave)
    silent = torch.zeros(2, 1000)
    assert torch.equal(add_noise(silent, 1.0, (5.0, 5.0), _gen()), silent)  # no signal, no noise


def test_noise_colour_follows_the_exponent() -> None:
    noise = coloured_noise((2, 2**15), torch.tensor([0.0, 2.0]), _gen())
    assert torch.allclose(noise.pow(2).mean(1), torch.ones(2, dtype=torch.float64))
    power = torch.fft.rfft(noise).abs().pow(2)
    low, high = power[:, 10:100].mean(1), power[:, 10000:11000].mean(1)
    assert 0.5 < float(low[0] / high[0]) < 2.0  # white: flat
    assert float(low[1] / high[1]) > 1e3  # brown: falls 20 dB a decade


def test_room_response_decays_by_60_db_over_rt60() -> None:
    ir = room_response(0.5, 0.0, RATE, _gen())
    assert ir.shape == (RATE // 2,) and ir[0] == 1.0
    assert math.isclose(float(ir[1:].pow(2).sum()), 1.0, rel_tol=1e-9)  # 0 dB direct-to-reverberant
    early, late = ir[1:800].pow(2).mean(), ir[3200:4000].pow(2).mean()  # centres 0.2 s apart: -24 dB
    assert -28 < 10 * math.log10(float(late / early)) < -20


def test_reverb_keeps_length_and_level_and_smears_an_impulse() -> None:
    wave = torch.zeros(3, RATE)
    wave[:, 100] = 1.0
    wet = add_reverb(wave, 1.0, (0.3, 0.3), RATE, _gen(), direct_to_reverb_db=(0.0, 0.0))
    assert wet.shape == wave.shape
    assert torch.equal(wet, add_reverb(wave, 1.0, (0.3, 0.3), RATE, _gen(), (0.0, 0.0)))
    assert torch.allclose(wet.pow(2).mean(1), wave.pow(2).mean(1), rtol=1e-4)
    assert wet[:, :100].abs().max() < 1e-12  # causal (FFT rounding only)
    tail = wet[:, 101 : 101 + int(0.3 * RATE)].pow(2).sum(1)
    assert torch.allclose(tail, wet[:, 100].pow(2), rtol=1e-3)  # tail energy = direct path (0 dB)
    assert torch.equal(add_reverb(wave, 0.0, (0.3, 0.3), RATE, _gen()), wave)


@pytest.mark.parametrize("prob", [0.5])
def test_only_the_drawn_share_of_clips_changes(prob: float) -> None:
    wave = _tone(batch=64, seconds=0.25)
    changed = (add_reverb(wave, prob, (0.2, 0.4), RATE, _gen(3)) != wave).any(dim=1)
    assert 16 < int(changed.sum()) < 48
