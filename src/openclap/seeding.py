"""Seeds derived from names and numbers, so every random draw of training and fine-tuning comes from one
run seed: ``derive_seed(seed, "augment", step, micro, rank)`` is the same on every machine and process,
and never depends on what was drawn before (a resumed run replays exactly)."""

from __future__ import annotations

import hashlib

import torch


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any tuple of ints and strings (stable across processes and machines)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def seeded_generator(*parts: object) -> torch.Generator:
    """A ``torch.Generator`` seeded with ``derive_seed(*parts)``."""
    return torch.Generator().manual_seed(derive_seed(*parts))
