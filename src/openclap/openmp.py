"""How long torch's idle OpenMP threads spin before they sleep, for commands that decode files beside the
model.

torch's CPU wheels use GNU libgomp, whose idle threads spin up to ``GOMP_SPINCOUNT`` times (300,000 by
default) waiting for the next parallel region before they sleep. While ``embed``
runs the model on every core, its decoding threads want the same cores between the model's many short
parallel regions, and the spinning threads hold them. With 100,000 the default model embedded the 400
ESC-50 fold-4 files 1.12x faster compiled in bf16 (319.8 against 284.3 files/s, medians of three
alternating rounds) and 1.07x eager in fp32 (208.7 against 194.4), and ran alone within noise (bf16
compiled 688.7 against 714.3 clips/s, fp32 eager 316.8 against 320.8); ``OMP_WAIT_POLICY=PASSIVE`` (no
spinning) had slowed the model alone by a fifth (docs/speed.md, "Freed memory kept in the heap, and
OpenMP's spin").

libgomp reads the variable once, when it loads with torch: ``shorter_spin()`` must run before ``import
torch`` and changes nothing after it, nor where the environment already sets ``GOMP_SPINCOUNT`` or
``OMP_WAIT_POLICY``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

SPIN_ENV = "GOMP_SPINCOUNT"
SPIN_COUNT = 100_000


def spin_decided_by(environ: Mapping[str, str]) -> bool:
    """True when ``environ`` already says how OpenMP's idle threads wait."""
    return SPIN_ENV in environ or "OMP_WAIT_POLICY" in environ


def shorter_spin() -> bool:
    """Set ``GOMP_SPINCOUNT`` to 100,000 for the OpenMP runtime that torch will load, unless the
    environment decided already or torch is loaded; True when it was set."""
    if "torch" in sys.modules or spin_decided_by(os.environ):
        return False
    os.environ[SPIN_ENV] = str(SPIN_COUNT)
    return True
