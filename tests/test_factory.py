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
