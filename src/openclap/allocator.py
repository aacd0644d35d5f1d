"""Large CPU tensors on transparent huge pages, so each new activation costs a few page faults, not thousands.

glibc's ``malloc`` serves a request above its mmap threshold (at most 32 MiB) with a fresh ``mmap`` and
unmaps it on ``free``. A tower's activations are allocated and freed layer by layer (HTS-AT at batch 8:
13-50 MB each), so the kernel faulted in and zeroed every 4 KiB page of every one of them again: a oneDNN
linear writing a 50 MB output ran at 87-98 GFLOP/s on this 2-core CPU instead of about 160-195.
torch backs CPU tensors of 2 MB and more with transparent huge pages when ``THP_MEM_ALLOC_ENABLE=1``
(``madvise(MADV_HUGEPAGE)``): 2 MiB pages, 512 times fewer faults. Measured (docs/speed.md): the
compiled packages at batch 32 1.02-1.65x faster (``benchmarks/huge_pages.py``), towers under torch.compile
1.11-1.46x (``benchmarks/flop_budget.py``), resident memory unchanged.
(Keeping freed memory in glibc's heap instead, ``mallopt(M_MMAP_MAX, 0)``, was as fast but raised the
resident memory by up to 92 %.)

``use_huge_pages()`` sets the variable unless the environment already sets it (``THP_MEM_ALLOC_ENABLE=0``
keeps 4 KiB pages). torch reads it at its first CPU allocation, so it must run before any tensor exists:
the ``openclap`` command calls it first thing; a program using the library sets the variable itself or
calls this before creating tensors. It needs Linux with THP ``always`` or ``madvise``
(``/sys/kernel/mm/transparent_hugepage/enabled``); elsewhere it changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "THP_MEM_ALLOC_ENABLE"  # torch's own switch (c10/core/impl/alloc_cpu.cpp)
THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def thp_mode() -> str | None:
    """The kernel's THP setting (``always``, ``madvise`` or ``never``), or None where there is none."""
    try:
        text = THP_SETTING.read_text()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1 : end] if 0 <= start < end else None


def use_huge_pages() -> bool:
    """Ask torch for huge pages (``THP_MEM_ALLOC_ENABLE=1``) unless the environment decided already;
    True when they will be used: the variable is 1 and the kernel allows ``madvise``d huge pages."""
    os.environ.setdefault(ENV, "1")
    return os.environ[ENV] == "1" and thp_mode() in ("always", "madvise")
