"""The model fingerprint an index records: what changes it and what must not."""

from __future__ import annotations

import copy
import dataclasses

import torch

import openclap
from openclap.config import ClapConfig
from openclap.index.identity import _non_default_fields, model_fingerprint


def test_fingerprint_follows_weights_and_precision_not_defaults() -> None:
    model = openclap.create_model("tiny-test")
    base = model_fingerprint(model)
    assert model_fingerprint(copy.deepcopy(model)) == base  # same weights, another object

    model.set_precision("bf16")  # bf16 embeddings differ from fp32 ones: another model for an index
    assert model_fingerprint(model) != base
    model.set_precision("fp32")
    assert model_fingerprint(model) == base

    first = next(iter(model.parameters()))
    with torch.no_grad():
        first.add_(1e-3)
    assert model_fingerprint(model) != base


def test_fields_left_at_their_default_do_not_enter_the_fingerprint() -> None:
    config = openclap.create_model("tiny-test").config
    described = _non_default_fields(config)
    defaults = {f.name for f in dataclasses.fields(ClapConfig) if f.default is not dataclasses.MISSING}
    for name in defaults:
        if getattr(config, name) == ClapConfig.__dataclass_fields__[name].default:
            assert name not in described  # a later openclap adding such a field keeps old indexes valid
    changed = dataclasses.replace(config, audio=dataclasses.replace(config.audio, n_mels=48))
    assert _non_default_fields(changed)["audio"]["n_mels"] == 48


def test_an_index_folder_that_cannot_be_created_is_a_clear_error(tmp_path) -> None:
    import pytest

    from openclap.index import SoundIndexError
    from openclap.index.build import _make_folder

    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(SoundIndexError, match="cannot create the index folder"):
        _make_folder(blocker / "idx")


def test_an_audio_only_model_has_no_fingerprint_of_its_own() -> None:
    """Its state covers one tower: a fingerprint of it would match no complete model, so it is refused,
    and ``identify`` takes the fingerprint it is given instead."""
    import pytest

    from openclap.index.identity import identify

    whole = openclap.create_model("tiny-test")
    audio_only = openclap.create_model("tiny-test", text=False)
    with pytest.raises(ValueError, match="without its text tower"):
        model_fingerprint(audio_only)
    assert identify(audio_only, fingerprint=model_fingerprint(whole)) == identify(whole)


def test_fingerprint_aliases_keep_the_latest_and_ignore_damage(tmp_path) -> None:
    from openclap.index.identity import FINGERPRINTS_FILE, KEEP_ALIASES, FingerprintAliases

    aliases = FingerprintAliases(tmp_path / "index")
    assert aliases.lookup("files") is None  # nothing remembered yet, no folder
    for i in range(KEEP_ALIASES + 3):
        aliases.remember(f"files-{i}", f"{i:064x}")
    assert aliases.lookup("files-0") is None  # the oldest three are forgotten
    assert aliases.lookup(f"files-{KEEP_ALIASES + 2}") == f"{KEEP_ALIASES + 2:064x}"
    aliases.remember("files-3", "f" * 64)  # remembered again: now the most recent, with its new value
    assert aliases.lookup("files-3") == "f" * 64

    (tmp_path / "index" / FINGERPRINTS_FILE).write_text('{"a": "not a digest", "b": "' + "0" * 64 + '"')
    assert aliases.lookup("b") is None  # damaged JSON: every lookup misses
    (tmp_path / "index" / FINGERPRINTS_FILE).write_text('{"a": "not a digest", "b": "' + "0" * 64 + '"}')
    assert aliases.lookup("a") is None and aliases.lookup("b") == "0" * 64

    blocked = FingerprintAliases(tmp_path / "index" / FINGERPRINTS_FILE / "below-a-file")
    blocked.remember("files", "0" * 64)  # an unwritable folder costs only the speed-up
    assert blocked.lookup("files") is None
