"""LabelCache: cached classifier rows equal freshly built ones; the key holds model, templates and label."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from openclap import ClapModel, ZeroShotClassifier, create_model
from openclap.text.label_cache import LabelCache, text_fingerprint
from openclap.zero_shot import build_classifier

LABELS = ["dog", "rain", "church bells", "a very long label with many words in it", "siren"]
TEMPLATES = ["{}", "a sound of {}"]


def test_cached_rows_equal_uncached(tiny_model: ClapModel, tmp_path: Path) -> None:
    cache = LabelCache(tmp_path)
    first = build_classifier(tiny_model, LABELS[:2], TEMPLATES, cache=cache)
    torch.testing.assert_close(first, build_classifier(tiny_model, LABELS[:2], TEMPLATES), rtol=0, atol=1e-6)
    assert (cache.hits, cache.misses) == (0, 2)
    mixed = build_classifier(tiny_model, LABELS[::-1], TEMPLATES, cache=cache)  # 2 hits, 3 misses
    assert (cache.hits, cache.misses) == (2, 5)
    torch.testing.assert_close(
        mixed, build_classifier(tiny_model, LABELS[::-1], TEMPLATES), rtol=0, atol=1e-6
    )

    fresh = LabelCache(tmp_path)  # a new process: the rows come from the folder, nothing is embedded
    again = ZeroShotClassifier(tiny_model, LABELS, templates=TEMPLATES, cache=fresh).classifier
    assert (fresh.hits, fresh.misses) == (5, 0)
    torch.testing.assert_close(again, mixed.flip(0), rtol=0, atol=0)


def test_key_holds_templates_and_model(tiny_model: ClapModel) -> None:
    cache = LabelCache()
    build_classifier(tiny_model, LABELS, TEMPLATES, cache=cache)
    other_templates = build_classifier(tiny_model, LABELS, ["{} noise"], cache=cache)
    assert cache.misses == 2 * len(LABELS)
    uncached = build_classifier(tiny_model, LABELS, ["{} noise"])
    torch.testing.assert_close(other_templates, uncached, rtol=0, atol=1e-6)

    torch.manual_seed(1)
    other_model = create_model("tiny-test")
    assert text_fingerprint(other_model) != text_fingerprint(tiny_model)
    rows = build_classifier(other_model, LABELS, TEMPLATES, cache=cache)
    assert cache.misses == 3 * len(LABELS)
    torch.testing.assert_close(rows, build_classifier(other_model, LABELS, TEMPLATES), rtol=0, atol=1e-6)

    before = text_fingerprint(other_model)  # a weight changed in place (a training step): a new key
    with torch.no_grad():
        other_model.text_projection.parameters().__next__().add_(0.5)
    assert text_fingerprint(other_model) != before


def test_damaged_cache_file_is_rebuilt(tiny_model: ClapModel, tmp_path: Path) -> None:
    build_classifier(tiny_model, LABELS, TEMPLATES, cache=LabelCache(tmp_path))
    (file,) = tmp_path.glob("labels-*.npz")
    file.write_bytes(b"not an npz")
    cache = LabelCache(tmp_path)
    rows = build_classifier(tiny_model, LABELS, TEMPLATES, cache=cache)
    assert cache.misses == len(LABELS)
    torch.testing.assert_close(rows, build_classifier(tiny_model, LABELS, TEMPLATES), rtol=0, atol=1e-6)


@pytest.mark.parametrize("batch_size", [2, 64])
def test_length_sorted_batches_keep_order(tiny_model: ClapModel, batch_size: int) -> None:
    texts = [f"{label} {i}" for i, label in enumerate(LABELS * 2)]
    from openclap.inference import embed_texts

    one_by_one = torch.cat([tiny_model.encode_text([t]) for t in texts]).detach()
    got = torch.from_numpy(embed_texts(tiny_model, texts, batch_size=batch_size))
    torch.testing.assert_close(got, one_by_one, rtol=0, atol=1e-5)
