"""The two families without shared golden vectors, against reference vectors made by their reference
code on seeded weights (``benchmarks/parity_fixtures.py``; transformers' ``ClapModel`` for the fused
Hugging Face model, laion_clap for LAION HTS-AT base): rebuilt in the published file format, converted by
openclap, fed the shared clips and token ids named in the fixture's ``inputs.json``, and compared tensor by
tensor with the same tolerance rule as the shared cases (``harness.tolerance``)."""

from __future__ import annotations

import pytest
import torch
from harness import compare, run_case, write_published
from rule import FIXTURE_CASES, case_data, case_dir, mismatched_keys, state_dict

from openclap.convert import convert


@pytest.mark.slow
@pytest.mark.parametrize("name", FIXTURE_CASES)
def test_fixture_case_reproduces_its_reference(parity_root, tmp_path, name: str) -> None:  # type: ignore[no-untyped-def]
    torch.set_num_threads(2)
    folder = case_dir(name)
    inputs, expected, texts = case_data(name)
    state = state_dict(folder)
    assert not mismatched_keys(folder, state)  # the rule and the buffer pointers rebuild every tensor
    src = write_published(name, state, tmp_path)
    del state
    model = convert(src, tmp_path / "openclap", family=None)
    got = run_case(model, name, inputs, expected, texts)
    result = compare(name, got, expected)
    failed = {k: f"{d:.3g}" for k, (d, ok) in result.items() if not ok}
    assert not failed, f"{name}: outside tolerance: {failed}"
    assert set(expected) <= set(result)
