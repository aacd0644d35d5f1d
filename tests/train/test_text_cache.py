"""The locked-text-tower cache: each caption's features as the tower computes them alone, computed once,
mixes never kept, the oldest caption evicted first; a LiT run with and without the cache trains alike."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from openclap.model import ClapModel
from openclap.registry import get_config
from openclap.train.config import TrainConfig
from openclap.train.runner import train
from openclap.train.text_cache import TextFeatureCache
from tests.train.tiny_runs import tiny_run


def _model() -> ClapModel:
    torch.manual_seed(0)
    return ClapModel(get_config("tiny-test")).eval()


def _alone(model: ClapModel, caption: str) -> torch.Tensor:
    with torch.no_grad():
        return model.text_features(model.tokenize([caption]))[0]


def test_features_match_the_tower_and_are_computed_once() -> None:
    model = _model()
    cache = TextFeatureCache(model, max_entries=10)
    captions = ["a dog barking", "rain on a roof and a dog barking", "a dog barking", "church bells"]
    got = cache.features(captions, [True, False, True, True])
    assert got.shape == (4, model.text_encoder.out_dim)
    for row, caption in zip(got, captions, strict=True):
        assert torch.allclose(row, _alone(model, caption), atol=1e-5), caption
    assert torch.equal(got[0], got[2])
    assert list(cache.store) == ["a dog barking", "church bells"]  # the mix is not kept
    assert (cache.hits, cache.misses) == (1, 2)
    with torch.no_grad():  # batched encoding agrees within float rounding
        batched = model.text_features(model.tokenize(captions))
    assert torch.allclose(got, batched, atol=1e-5)


def test_least_recently_used_caption_is_evicted_and_recomputed_identically() -> None:
    model = _model()
    cache = TextFeatureCache(model, max_entries=2)
    first = cache.features(["one", "two"], [True, True])
    cache.features(["one"], [True])  # "two" is now the oldest
    cache.features(["three"], [True])
    assert list(cache.store) == ["one", "three"]
    again = cache.features(["two"], [True])
    assert torch.equal(again[0], first[1])  # encoded alone: the same bits whatever shared its batch
    with pytest.raises(ValueError, match="2 captions but 1 keep flags"):
        cache.features(["a", "b"], [True])
    with pytest.raises(ValueError, match=">= 1"):
        TextFeatureCache(model, 0)


def test_lit_run_with_the_cache_trains_like_one_without(
    tone_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = TextFeatureCache.features

    def counted(self: TextFeatureCache, captions: list[str], keep: list[bool]) -> torch.Tensor:
        calls.append(len(captions))
        return original(self, captions, keep)

    monkeypatch.setattr(TextFeatureCache, "features", counted)
    augment = {"gain_db": 6.0, "mix_prob": 0.5}
    runs = {}
    for name, size in (("cached", 1000), ("plain", 0)):
        run = tiny_run(tone_manifest, tmp_path / name, max_steps=4, freeze={"text": True}, augment=augment)
        run["text_cache"] = size
        runs[name] = load_file(train(TrainConfig.from_dict(run)).final_checkpoint / "model.safetensors")
        assert len(calls) == (4 if name == "cached" else 0)  # one call per step, none without the cache
        calls.clear()
    for key, tensor in runs["plain"].items():
        assert torch.allclose(tensor, runs["cached"][key], atol=1e-4), key


def test_negative_size_is_refused(tone_manifest: Path, tmp_path: Path) -> None:
    run = tiny_run(tone_manifest, tmp_path / "run", text_cache=-1)
    with pytest.raises(ValueError, match="text_cache must be >= 0"):
        TrainConfig.from_dict(run)


def test_saved_features_load_back_bit_for_bit_and_a_changed_tower_is_not_trusted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _model()
    cache = TextFeatureCache(model, max_entries=10)
    first = cache.features(["a dog barking", "church bells", "rain"], [True, True, True])
    path = tmp_path / "text_cache.safetensors"
    assert cache.save(path) and not cache.save(path)  # unchanged: not rewritten
    again = TextFeatureCache(model, max_entries=2)
    assert again.load(path) == 2  # the most recent entries that fit
    assert list(again.store) == ["church bells", "rain"]
    assert torch.equal(again.features(["rain"], [True])[0], first[2]) and again.misses == 0
    other = _model()
    with torch.no_grad():
        next(other.text_encoder.parameters()).add_(1e-3)
    assert TextFeatureCache(other, 10).load(path) == 0
    assert "made by another text tower" in capsys.readouterr().err
    path.write_bytes(b"not a safetensors file")
    assert TextFeatureCache(model, 10).load(path) == 0
    assert "unreadable text cache" in capsys.readouterr().err
    assert TextFeatureCache(model, 10).load(tmp_path / "absent.safetensors") == 0


def test_a_resumed_lit_run_starts_with_the_saved_captions(tone_manifest: Path, tmp_path: Path) -> None:
    from openclap.train.runner import build_text_cache
    from openclap.train.text_cache import TEXT_CACHE_FILE

    run = tiny_run(tone_manifest, tmp_path / "run", max_steps=2, freeze={"text": True}, checkpoint_every=1)
    result = train(TrainConfig.from_dict(run))
    saved = tmp_path / "run" / TEXT_CACHE_FILE
    assert saved.is_file()
    n = len(load_file(str(saved))["features"])
    cache = build_text_cache(TrainConfig.from_dict(run), result.model)  # what --resume builds
    assert cache is not None and len(cache.store) == n > 0
    for caption, row in cache.store.items():  # the tower's own features of each caption, to the bit
        assert torch.equal(row, cache._encode([caption])[0]), caption
