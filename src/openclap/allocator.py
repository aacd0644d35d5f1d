"""How the process allocates large CPU tensors: on transparent huge pages, and kept in the heap once freed.

glibc's ``malloc`` serves a request above its mmap threshold (adjusted up to 32 MiB) with a fresh ``mmap``
and unmaps it on ``free``. A tower's activations are allocated and freed layer by layer, so the kernel
faulted in and zeroed the pages of many of them again on every call. The ``openclap`` command applies two
remedies before any work (``configure_allocator``):

- ``use_huge_pages()`` backs tensors of 2 MB and more with transparent huge pages (torch's
  ``THP_MEM_ALLOC_ENABLE=1``): 512 times fewer faults where memory is mapped afresh.
- ``keep_freed_memory()`` raises glibc's mmap threshold to 1 GiB and its trim threshold to 2 GiB
  (``mallopt``): a freed activation stays in the heap and the next one reuses it, already mapped. With
  both, the compiled towers at batch 32 made no page faults per call against 265-32,225 with huge pages
  alone, and ran 1.27x (default model fp32), 1.75x (bf16), 1.32x (Cnn14 fp32), 1.05-1.13x (the rest)
  faster than with huge pages alone (``benchmarks/allocator_speed.py``; docs/speed.md, "Freed memory
  kept in the heap, and OpenMP's spin"). Peak resident memory: the same for the default model and
  HTS-AT, Cnn14 fp32 up to 40 % higher; the heap holds its peak until the process ends, as a caching
  allocator does.

``configure_allocator`` keeps freed memory only where huge pages are in use: with 4 KiB pages torch's
64-byte-aligned requests fit no freed block of their own size, and a 64 MB tensor allocated and freed 30
times left 731 MB resident against 284 MB with huge pages (whose 2 MB alignment leaves room).

A program using the library calls ``configure_allocator()`` itself before creating any tensor (torch
reads ``THP_MEM_ALLOC_ENABLE`` at its first CPU allocation). Each setting is left as it is where the
environment already decided: ``THP_MEM_ALLOC_ENABLE`` for huge pages, glibc's ``MALLOC_MMAP_THRESHOLD_``
/ ``MALLOC_TRIM_THRESHOLD_`` or a ``glibc.malloc`` tunable for the thresholds. Elsewhere than Linux
(huge pages) or glibc (the thresholds) they change nothing.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any

ENV = "THP_MEM_ALLOC_ENABLE"  # torch's own switch (c10/core/impl/alloc_cpu.cpp)
THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")
# mallopt's parameters (malloc.h) and the values keep_freed_memory sets
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD, TRIM_THRESHOLD = 1 << 30, 1 << 31
# The environment variables through which glibc takes the same settings (a child process inherits them)
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}
# Every variable through which the environment decides the allocator (huge pages, glibc's thresholds)
ALLOCATOR_ENV = (ENV, *MALLOC_ENV, "GLIBC_TUNABLES")


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


def malloc_decided_by_environment() -> bool:
    """True when glibc's malloc thresholds come from the environment (its own variables or tunables)."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return any(name in os.environ for name in MALLOC_ENV) or "glibc.malloc." in tunables


def glibc_mallopt() -> Any | None:
    """glibc's ``mallopt`` from the process's own symbols, or None where the C library is not glibc
    (mallopt's parameter numbers are glibc's)."""
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, its C library's among them
        libc.gnu_get_libc_version  # noqa: B018  (present in glibc only)
        return libc.mallopt
    except (OSError, AttributeError, TypeError):
        return None  # not glibc, or no C library to ask


def keep_freed_memory() -> bool:
    """Keep freed tensors' memory in glibc's heap for the next ones (mmap threshold 1 GiB, trim
    threshold 2 GiB), unless the environment set glibc's thresholds; True when this call set them.
    Meant for use with huge pages (``configure_allocator``): see the module's note on 4 KiB pages."""
    mallopt = glibc_mallopt()
    if mallopt is None or malloc_decided_by_environment():
        return False
    return bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    )


def command_environment() -> dict[str, str]:
    """The environment variables that make a new process allocate as ``configure_allocator`` does
    (huge pages; glibc's thresholds where the kernel allows huge pages), for a child process that does
    not call it: the benchmarks' children."""
    huge = thp_mode() in ("always", "madvise")
    return {ENV: "1", **(MALLOC_ENV if huge else {})}


def configure_allocator() -> dict[str, bool]:
    """What the ``openclap`` command does before anything else: ``use_huge_pages()``, and where huge
    pages are in use ``keep_freed_memory()``; call it before creating tensors. Returns which took effect."""
    huge = use_huge_pages()
    return {"huge_pages": huge, "keep_freed_memory": keep_freed_memory() if huge else False}
