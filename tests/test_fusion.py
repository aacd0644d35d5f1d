"""LAION fusion input: chunk choice (deterministic / seeded), shrink, padding and quantisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from openclap.audio.frontend import LogMel
from openclap.audio.fusion import chunk_starts, fusion_mel, prepare_fusion, quantize_int16, shrink_time
from openclap.config import AudioFrontendConfig

CFG = AudioFrontendConfig(sample_rate=4800, clip_seconds=1.0, n_fft=256, hop_length=48, n_mels=16, f_min=50,
                          f_max=2000, mel_scale="htk", mel_norm=None, pad="repeatpad", quantize_int16=True)


def test_seeded_choice_reproduces_laion() -> None:
    # LAION: np.random.seed(4242); one np.random.choice per third of range(0, 1251 - 1001 + 1).
    assert chunk_starts(1251, 1001, 4242) == [46, 97, 185]
    np.random.seed(4242)
    parts = np.array_split(list(range(0, 251)), 3)
    assert chunk_starts(1251, 1001, np.random.RandomState(4242)) == [int(np.random.choice(p)) for p in parts]


def test_default_choice_is_deterministic_middle() -> None:
    assert chunk_starts(1251, 1001) == [42, 126, 209]
    assert chunk_starts(1002, 1001) == [0, 1, 0]  # an empty third falls back to frame 0, as LAION


def test_shrink_is_antialiased_bilinear() -> None:
    mel = torch.randn(8, 50)
    out = shrink_time(mel, 20)
    ref = F.interpolate(mel.T[None, None], size=(20, 8), mode="bilinear", antialias=True)[0, 0].T
    assert out.shape == (8, 20) and torch.equal(out, ref)
    plain = F.interpolate(mel.T[None, None], size=(20, 8), mode="bilinear")[0, 0].T
    assert (out - plain).abs().max() > 1e-3


def test_quantize_int16_matches_numpy() -> None:
    x = torch.linspace(-1.2, 1.2, 10001)
    want = ((np.clip(x.numpy(), -1, 1) * 32767.0).astype(np.int16) / 32767.0).astype(np.float32)
    assert np.array_equal(quantize_int16(x).numpy(), want)


def test_prepare_pads_short_and_keeps_long_clips() -> None:
    short, exact, long, barely = torch.rand(1500), torch.rand(4800), torch.rand(7000), torch.rand(4810)
    batch = prepare_fusion([short, exact, long, barely], CFG)
    assert [w.shape[0] for w in batch.waves] == [4800, 4800, 7000, 4810]
    assert batch.longer.tolist() == [False, False, True, False]  # 4810 samples: same 101 frames
    assert torch.equal(batch.waves[0][3000:4500], quantize_int16(short))  # three whole copies, then zeros
    assert batch.waves[0][4500:].abs().max() == 0
    assert batch.chunk_starts[2].tolist() == chunk_starts(7000 // 48 + 1, 101)


def test_fusion_mel_channels() -> None:
    frontend = LogMel(CFG)
    long = torch.randn(9000) * 0.1
    batch = prepare_fusion([torch.randn(4800) * 0.1, long], CFG)
    mel, longer = fusion_mel(frontend, batch, 101)
    assert mel.shape == (2, 4, 16, 101) and longer.tolist() == [False, True]
    assert torch.equal(mel[0, 0], mel[0, 3])
    full = frontend(batch.waves[1][None])[0]
    start = int(batch.chunk_starts[1, 1])
    assert torch.equal(mel[1, 2], full[:, start : start + 101])
    assert torch.equal(mel[1, 0], shrink_time(full, 101))


def test_rejects_multichannel() -> None:
    with pytest.raises(ValueError, match="mono"):
        prepare_fusion([torch.zeros(2, 100)], CFG)
