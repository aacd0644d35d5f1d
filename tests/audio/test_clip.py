"""fit_length (pad / crop policies) and sliding_windows (windows and their timestamps)."""

from __future__ import annotations

import pytest
import torch

from openclap.audio.clip import fit_length, sliding_windows


def _ramp(n: int) -> torch.Tensor:
    return torch.arange(1, n + 1, dtype=torch.float32)


def test_exact_length_is_returned_unchanged() -> None:
    wave = _ramp(10)
    assert torch.equal(fit_length(wave, 10), wave)


@pytest.mark.parametrize(
    ("pad", "expected"),
    [
        ("repeat", [1, 2, 3, 1, 2, 3, 1, 2]),  # tile, then cut (msclap)
        ("repeatpad", [1, 2, 3, 1, 2, 3, 0, 0]),  # whole copies, then zeros (LAION)
        ("zero", [1, 2, 3, 0, 0, 0, 0, 0]),
    ],
)
def test_pad_modes(pad: str, expected: list[float]) -> None:
    out = fit_length(_ramp(3), 8, pad=pad)
    assert out.tolist() == expected


def test_repeatpad_of_a_clip_longer_than_half_only_zero_pads() -> None:
    assert fit_length(_ramp(5), 8, pad="repeatpad").tolist() == [1, 2, 3, 4, 5, 0, 0, 0]


def test_one_sample_clip_is_padded() -> None:
    assert fit_length(torch.tensor([0.5]), 4, pad="repeat").tolist() == [0.5] * 4
    assert fit_length(torch.tensor([0.5]), 4, pad="zero").tolist() == [0.5, 0, 0, 0]


@pytest.mark.parametrize(("crop", "start"), [("start", 0), ("center", 3)])
def test_deterministic_crops(crop: str, start: int) -> None:
    wave = _ramp(10)
    out = fit_length(wave, 4, crop=crop)
    assert torch.equal(out, wave[start : start + 4])


def test_center_crop_of_odd_overflow_rounds_down() -> None:
    assert fit_length(_ramp(9), 4, crop="center").tolist() == [3, 4, 5, 6]  # overflow 5 -> start 2


def test_batched_input_pads_and_crops_the_last_axis() -> None:
    waves = torch.stack([_ramp(3), -_ramp(3)])
    assert fit_length(waves, 5, pad="repeat").tolist() == [[1, 2, 3, 1, 2], [-1, -2, -3, -1, -2]]
    assert fit_length(torch.stack([_ramp(6), -_ramp(6)]), 2, crop="center").tolist() == [[3, 4], [-3, -4]]


def test_random_crop_is_reproducible_with_a_seeded_generator() -> None:
    wave = _ramp(1000)
    first = [
        fit_length(wave, 10, crop="random", generator=torch.Generator().manual_seed(7)) for _ in range(3)
    ]
    assert all(torch.equal(first[0], other) for other in first[1:])

    gen = torch.Generator().manual_seed(123)
    starts = [int(fit_length(wave, 10, crop="random", generator=gen)[0].item()) - 1 for _ in range(200)]
    assert all(0 <= s <= 990 for s in starts)
    assert len(set(starts)) > 100  # really random across draws
    gen = torch.Generator().manual_seed(123)
    again = [int(fit_length(wave, 10, crop="random", generator=gen)[0].item()) - 1 for _ in range(200)]
    assert again == starts
    out = fit_length(wave, 10, crop="random", generator=torch.Generator().manual_seed(5))
    start = int(out[0].item()) - 1
    assert torch.equal(out, wave[start : start + 10])  # a contiguous window of the clip


def test_random_crop_reaches_both_ends() -> None:
    wave = _ramp(3)
    gen = torch.Generator().manual_seed(0)
    seen = {tuple(fit_length(wave, 2, crop="random", generator=gen).tolist()) for _ in range(50)}
    assert seen == {(1.0, 2.0), (2.0, 3.0)}


def test_random_crop_without_generator_is_refused() -> None:
    with pytest.raises(ValueError, match=r"crop='random' needs a seeded torch\.Generator"):
        fit_length(_ramp(100), 10, crop="random")


def test_random_crop_is_not_needed_when_nothing_to_crop() -> None:
    assert fit_length(_ramp(5), 8, crop="random").tolist() == [1, 2, 3, 4, 5, 1, 2, 3]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"pad": "reflect"}, "pad='reflect' is not valid"), ({"crop": "end"}, "crop='end' is not valid")],
)
def test_invalid_modes_name_the_value_and_choices(kwargs: dict[str, str], message: str) -> None:
    wave = _ramp(5) if "pad" in kwargs else _ramp(50)
    with pytest.raises(ValueError, match=message + r".*choose one of"):
        fit_length(wave, 10, **kwargs)


def test_empty_waveform_is_refused() -> None:
    with pytest.raises(ValueError, match="empty waveform"):
        fit_length(torch.zeros(0), 10)


# ----- sliding windows -----------------------------------------------------------------------------


def test_sliding_windows_cover_the_clip_with_timestamps() -> None:
    wave = _ramp(10)
    windows, starts = sliding_windows(wave, 4, 3, sample_rate=2)
    # starts 0, 3, 6 (6 + 4 = 10 reaches the end exactly)
    assert windows.shape == (3, 4)
    assert windows.tolist() == [[1, 2, 3, 4], [4, 5, 6, 7], [7, 8, 9, 10]]
    assert starts.dtype == torch.float64
    assert starts.tolist() == [0.0, 1.5, 3.0]


def test_last_window_is_aligned_with_the_end() -> None:
    wave = _ramp(11)
    windows, starts = sliding_windows(wave, 4, 4, sample_rate=1, pad="zero")
    assert windows.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8], [8, 9, 10, 11]]
    assert starts.tolist() == [0, 4, 7]


def test_short_clip_gives_one_padded_window() -> None:
    windows, starts = sliding_windows(_ramp(3), 8, 4, sample_rate=16000)
    assert windows.tolist() == [[1, 2, 3, 1, 2, 3, 1, 2]]
    assert starts.tolist() == [0.0]


@pytest.mark.parametrize(
    ("length", "size", "hop"),
    [(16000 * 7 + 5, 16000, 16000), (16000 * 3, 16000, 8000), (100, 30, 7), (30, 30, 5)],
)
def test_windows_start_every_hop_and_reach_the_end(length: int, size: int, hop: int) -> None:
    wave = _ramp(length)
    windows, starts = sliding_windows(wave, size, hop, sample_rate=16000)
    samples = (starts * 16000).round().long().tolist()
    regular = list(range(0, max(length - size, 0) + 1, hop))
    assert samples[: len(regular)] == regular  # every hop
    assert samples[-1] == max(length - size, 0)  # the last window ends at the end of the clip
    assert len(samples) - len(regular) <= 1  # at most one extra, end-aligned window
    for s, window in zip(samples, windows, strict=True):
        n = min(size, length - s)
        assert torch.equal(window[:n], wave[s : s + n])


def test_sliding_windows_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"expects a \[N\] waveform"):
        sliding_windows(torch.zeros(2, 100), 10, 10, 16000)
    with pytest.raises(ValueError, match="must be positive"):
        sliding_windows(torch.zeros(100), 10, 0, 16000)


def test_fit_length_refuses_a_non_positive_length() -> None:
    with pytest.raises(ValueError, match="num_samples must be positive, got 0"):
        fit_length(_ramp(4), 0)
