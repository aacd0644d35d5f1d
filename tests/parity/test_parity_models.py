"""End to end: every parity case rebuilt in its published file format, converted by openclap, fed the
stored clips and token ids, compared tensor by tensor with the reference (README §6 tolerances), then
saved as an openclap checkpoint and reloaded with bit-identical outputs."""

from __future__ import annotations

import json

import pytest
import torch
from harness import compare, run_case, write_published
from rule import CASES

from openclap.convert import convert, is_published_checkpoint
from openclap.factory import create_model

SLOW = {"msclap-2022"}  # > 20 s here (Cnn14 + BERT, 760 MB written twice); the others take 5-13 s


@pytest.mark.parametrize("name", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW else c for c in CASES])
def test_published_checkpoint_reproduces_reference(get_case, tmp_path, name: str) -> None:  # type: ignore[no-untyped-def]
    torch.set_num_threads(2)
    case = get_case(name)
    src = write_published(name, case.state, tmp_path)
    assert is_published_checkpoint(src)
    model = convert(src, tmp_path / "openclap", family=None)
    texts = json.loads((case.dir / "inputs.json").read_text())["texts"]
    got = run_case(model, name, case.inputs, case.expected, texts)
    result = compare(name, got, case.expected)
    failed = {k: f"{d:.3g}" for k, (d, ok) in result.items() if not ok}
    assert not failed, f"{name}: outside tolerance: {failed}"
    assert set(case.expected) - {"crop_starts"} <= set(result)

    src.unlink()  # the round trip must not need the published file
    reloaded = create_model(checkpoint=tmp_path / "openclap")
    again = run_case(reloaded, name, case.inputs, case.expected, texts)
    changed = [k for k in got if not torch.equal(got[k], again[k])]
    assert not changed, f"{name}: outputs changed after the safetensors round trip: {changed}"
