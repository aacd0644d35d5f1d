"""create_model's tokenizer override (the CLI's --tokenizer)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from openclap import create_model
from openclap.text.tower import resolve_text_path


def test_tokenizer_folder_overrides_the_config(tmp_path: Path) -> None:
    folder = tmp_path / "bert-vocab"
    folder.mkdir()
    shutil.copy(resolve_text_path("minilm") / "vocab.txt", folder / "vocab.txt")
    model = create_model("tiny-test", tokenizer=str(folder))
    assert model.config.text_encoder.tokenizer == str(folder.resolve())
    assert model.tokenize(["a dog barks"])["input_ids"].shape[0] == 1


def test_tokenizer_folder_without_files_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"vocab\.txt"):
        create_model("tiny-test", tokenizer=str(tmp_path))


def test_an_audio_only_model_loads_the_same_audio_weights_and_refuses_text(tmp_path: Path) -> None:
    import torch

    from openclap.checkpoint import save_checkpoint

    torch.manual_seed(0)
    full = create_model("tiny-test")
    save_checkpoint(full, tmp_path / "ckpt", include_text=True)  # text weights in the file: skipped
    audio_only = create_model(checkpoint=tmp_path / "ckpt", text=False)
    assert audio_only.text_encoder is None
    assert torch.equal(audio_only.text_projection.linear1.weight, full.text_projection.linear1.weight)
    wave = torch.randn(2, full.config.audio.clip_samples) * 0.1
    with torch.inference_mode():
        torch.testing.assert_close(audio_only.encode_audio(wave), full.encode_audio(wave), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="without its text tower"):
        audio_only.encode_text(["a dog"])


def test_the_default_audio_only_model_embeds_as_the_full_one() -> None:
    import torch

    full, audio_only = create_model(), create_model(text=False)
    assert audio_only.text_encoder is None and audio_only.config == full.config
    wave = torch.randn(1, full.config.audio.clip_samples) * 0.1
    with torch.inference_mode():
        assert torch.equal(audio_only.encode_audio(wave), full.encode_audio(wave))


def test_text_width_without_the_tower_matches_transformers_for_every_registered_config() -> None:
    from transformers import AutoConfig

    from openclap.registry import get_config, list_models
    from openclap.text.tower import text_width

    for name in list_models():
        text = get_config(name).text_encoder
        if text.hf_config is not None:
            hf = dict(text.hf_config)
            expected = AutoConfig.for_model(hf.pop("model_type"), **hf).hidden_size
        else:
            expected = AutoConfig.from_pretrained(str(resolve_text_path(text.source))).hidden_size
        assert text_width(text) == expected, name
    from openclap.config import TextEncoderConfig

    bare = TextEncoderConfig(source=None, pretrained=False, hf_config={"model_type": "bert"})
    assert text_width(bare) == 768  # no width given: the model type's default, through transformers
