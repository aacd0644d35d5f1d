from __future__ import annotations

import torch

from openclap.model import ClapModel
from openclap.registry import get_config
from openclap.train.augment import mix_pairs, random_gain, spec_augment
from openclap.train.config import FreezeConfig
from openclap.train.freeze import apply_freeze, audio_blocks, text_blocks


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_gain_and_mix_are_seeded_and_join_captions() -> None:
    wave = torch.randn(4, 100, generator=_gen(1))
    assert torch.equal(random_gain(wave, 6.0, _gen()), random_gain(wave, 6.0, _gen()))
    ratio = random_gain(wave, 6.0, _gen()) / wave
    assert torch.all(ratio <= 10 ** (6 / 20) + 1e-5) and torch.all(ratio >= 10 ** (-6 / 20) - 1e-5)
    mixed, captions = mix_pairs(wave, ["a", "b", "c", "d"], 1.0, " and ", _gen())
    assert all(" and " in c for c in captions)
    first, partner = captions[0].split(" and ")
    j = "abcd".index(partner)
    assert first == "a" and j != 0
    r = (mixed[0] - wave[j]) / (wave[0] - wave[j])
    assert torch.allclose(r, r[0].expand_as(r), atol=1e-4) and 0.3 <= float(r[0]) <= 0.7
    untouched, same = mix_pairs(wave, ["a", "b", "c", "d"], 0.0, " and ", _gen())
    assert torch.equal(untouched, wave) and same == ["a", "b", "c", "d"]


def test_spec_augment_masks_bands_with_the_mean() -> None:
    mel = torch.randn(3, 16, 50, generator=_gen(2))
    out = spec_augment(mel, time_masks=2, time_width=10, freq_masks=1, freq_width=4, gen=_gen())
    assert torch.equal(out, spec_augment(mel, 2, 10, 1, 4, _gen()))
    changed = out != mel
    assert changed.any()
    fill = mel.mean(dim=(1, 2))
    for b in range(3):
        assert torch.allclose(out[b][changed[b]], fill[b].expand(int(changed[b].sum())))
    assert torch.equal(spec_augment(mel, 0, 0, 0, 0, _gen()), mel)


def test_lit_freeze_locks_text_tower_and_lower_audio_blocks() -> None:
    model = ClapModel(get_config("tiny-test"))
    assert len(audio_blocks(model.audio_encoder)) == 4  # bn0, two stages, fc
    assert len(text_blocks(model.text_encoder)) == 2  # embeddings, one layer
    frozen = apply_freeze(model, FreezeConfig(text=True, audio_layers=2))
    assert all(not p.requires_grad for p in model.text_encoder.parameters())
    assert all(not p.requires_grad for p in model.audio_encoder.bn0.parameters())
    assert all(not p.requires_grad for p in model.audio_encoder.stages[0].parameters())
    assert all(p.requires_grad for p in model.audio_encoder.stages[1].parameters())
    assert all(p.requires_grad for p in model.text_projection.parameters())
    assert model.text_encoder in frozen


def test_repeated_captions_are_one_query_relevant_to_every_clip() -> None:
    from openclap.train.evaluate import caption_relevance

    texts, clips_of_text, texts_of_clip = caption_relevance(
        [("seven", "a seven"), ("seven",), ("one", "one")]
    )
    assert texts == ["seven", "a seven", "one"]
    assert clips_of_text == [[0, 1], [0], [2]] and texts_of_clip == [[0, 1], [0], [2]]
