"""laion_clap 1.1.7 without a model hub, for the benchmark-only reference environment (never openclap's).

``CLAP_Module`` calls ``RobertaModel.from_pretrained("roberta-base")`` and laion_clap's data module makes
three tokenizers with ``from_pretrained`` at import time. No hub is reachable here, so
inside ``offline_roberta()`` the first builds the roberta-base architecture from its published config
(shared parity README §5; every weight is then replaced by ``load_ckpt``, which loads strictly) and the
tokenizers come back as None (the benchmarks and fixtures feed stored token ids). Nothing here imports
openclap.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

ROBERTA_BASE = dict(  # roberta-base's config.json
    vocab_size=50265,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=514,
    type_vocab_size=1,
    layer_norm_eps=1e-5,
    pad_token_id=1,
    bos_token_id=0,
    eos_token_id=2,
)


@contextlib.contextmanager
def offline_roberta() -> Iterator[None]:
    """While open, transformers builds roberta-base from its config and laion_clap's tokenizers are None,
    so that laion_clap imports and builds its model without downloading; restored on exit (msclap, in
    the same process, needs its own tokenizer)."""
    from transformers import BartTokenizer, BertTokenizer, RobertaConfig, RobertaModel, RobertaTokenizer

    patched = tuple(dict.fromkeys((RobertaModel, BertTokenizer, RobertaTokenizer, BartTokenizer)))  # aliases
    saved = [cls.__dict__.get("from_pretrained") for cls in patched]
    RobertaModel.from_pretrained = classmethod(  # type: ignore[method-assign,assignment]
        lambda cls, name, **kw: cls(RobertaConfig(**ROBERTA_BASE))
    )
    for tokenizer in patched[1:]:  # made at import, never used here (stored token ids are fed)
        tokenizer.from_pretrained = classmethod(lambda cls, name, **kw: None)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        for cls, method in zip(patched, saved, strict=True):
            if method is None:
                delattr(cls, "from_pretrained")
            else:
                cls.from_pretrained = method  # type: ignore[method-assign]


def load_unfused(ckpt: str, amodel: str = "HTSAT-tiny") -> Any:
    """laion_clap's ``CLAP_Module(enable_fusion=False)`` with ``load_ckpt(ckpt)`` (published layout)."""
    with offline_roberta():
        import laion_clap

        clap = laion_clap.CLAP_Module(enable_fusion=False, amodel=amodel, device="cpu")
    clap.load_ckpt(ckpt, verbose=False)
    clap.model.eval()
    return clap
