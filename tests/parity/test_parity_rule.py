"""The seeded weight rule rebuilds every published-layout tensor bit for bit (sha256 in keys.json)."""

from __future__ import annotations

import pytest
import torch
from rule import CASES, mismatched_keys, state_dict, value


def test_rule_branches() -> None:
    assert torch.equal(value("logit_scale_a", ()), torch.tensor(2.6592600345611572))
    var = value("x.running_var", (5,))
    assert bool((var >= 0.5).all())
    kernel = value("conv.weight", (4, 2, 3, 3)).double()
    assert kernel.sum(dim=(1, 2, 3)).abs().max() < 1e-6  # zero-mean per output filter


@pytest.mark.parametrize("case", CASES)
def test_rebuilt_checkpoint_matches_sha256(parity_root, case: str) -> None:  # type: ignore[no-untyped-def]
    sd = state_dict(parity_root / case)
    assert mismatched_keys(parity_root / case, sd) == []
