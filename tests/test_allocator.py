"""openclap.allocator: huge pages for fresh 64 MB tensors (counted by a child process's minor page faults)
and freed tensors' memory kept in the heap (by its resident memory after the free)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from openclap.allocator import ALLOCATOR_ENV, glibc_mallopt, thp_mode

needs_thp = pytest.mark.skipif(
    thp_mode() not in ("always", "madvise"), reason="needs Linux transparent huge pages (always or madvise)"
)
needs_glibc = pytest.mark.skipif(glibc_mallopt() is None, reason="mallopt's thresholds are glibc's")

# Counts the minor page faults of allocating, writing and freeing a 64 MB tensor four times (after a
# first one). argv: huge pages ("use" / "default"), freed memory ("keep" / "default").
CHILD = """
import resource, sys
from openclap.allocator import keep_freed_memory, use_huge_pages
used = use_huge_pages() if sys.argv[1] == "use" else False
kept = keep_freed_memory() if sys.argv[2] == "keep" else False
import torch
def touch():
    t = torch.ones(16 * 1024 * 1024)
    del t
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    touch()
print(used, kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
PAGES = 4 * 64 * 1024 * 1024 // os.sysconf("SC_PAGE_SIZE")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the variables that decide the allocator, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ALLOCATOR_ENV}
    return {**env, **extra}


def run_child(script: str, huge: str, freed: str = "default", **env: str) -> tuple[bool, bool, int]:
    """Run ``script`` (CHILD or RELEASED) in a fresh process: (huge pages used, freed memory kept, its
    count)."""
    out = subprocess.run(
        [sys.executable, "-c", script, huge, freed],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(**env),
    ).stdout.split()
    return out[0] == "True", out[1] == "True", int(out[2])


def faults(huge: str, freed: str = "default", **env: str) -> tuple[bool, bool, int]:
    return run_child(CHILD, huge, freed, **env)


@needs_thp
def test_huge_pages_cut_the_page_faults_of_fresh_tensors() -> None:
    used, _, huge = faults("use")
    _, _, small = faults("default")
    assert used
    if thp_mode() == "madvise":  # with "always" every large mapping gets huge pages anyway
        assert small > PAGES // 2  # each buffer mapped afresh: nearly every 4 KiB page faults again
    assert huge < PAGES // 20


@needs_thp
def test_the_environment_decides_first() -> None:
    used, _, count = faults("use", THP_MEM_ALLOC_ENABLE="0")
    assert not used
    if thp_mode() == "madvise":
        assert count > PAGES // 2


# Resident MB that freeing a written 64 MB tensor gives back to the system. argv as CHILD's.
RELEASED = """
import sys
from openclap.allocator import keep_freed_memory, use_huge_pages
used = use_huge_pages() if sys.argv[1] == "use" else False
kept = keep_freed_memory() if sys.argv[2] == "keep" else False
import torch
def resident_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
t = torch.ones(16 * 1024 * 1024)
before = resident_mb()
del t
print(used, kept, round(before - resident_mb()))
"""


def released_mb(huge: str, freed: str, **env: str) -> tuple[bool, bool, int]:
    return run_child(RELEASED, huge, freed, **env)


@needs_thp
@needs_glibc
def test_freed_memory_stays_in_the_heap_for_the_next_tensor() -> None:
    """Freed, a kept tensor's memory stays mapped (the next one reuses it without faulting it in again);
    glibc otherwise unmaps it. How often the reuse happens in a tower is benchmarks/allocator_speed.py's
    to measure (it counts faults per call): glibc can still pick fresh memory for an aligned request."""
    used, kept, released = released_mb("use", "keep")
    assert used and kept
    assert released < 8
    _, _, released = released_mb("use", "default")
    assert released > 56


@needs_thp
@needs_glibc
def test_glibc_variables_in_the_environment_decide_first() -> None:
    _, kept, released = released_mb("use", "keep", MALLOC_MMAP_THRESHOLD_="65536")
    assert not kept
    assert released > 56  # the environment's threshold (64 KiB) stands: the tensor was mapped and unmapped
    _, kept, _ = faults("use", "keep", GLIBC_TUNABLES="glibc.malloc.trim_threshold=65536")
    assert not kept


@needs_thp
@needs_glibc
def test_the_command_environment_allocates_as_configure_allocator_does() -> None:
    """A child given ``command_environment()`` (the benchmarks' children) keeps a freed tensor's memory
    and uses huge pages without calling anything, as ``configure_allocator`` would have set it up."""
    from openclap.allocator import command_environment

    _, kept, released = released_mb("default", "default", **command_environment())
    assert not kept  # nothing called in the child: the environment alone decided
    assert released < 8
    _, _, count = faults("default", **command_environment())
    assert count < PAGES // 20


@needs_thp
@needs_glibc
def test_the_command_sets_up_the_allocator() -> None:
    """``openclap.cli.entry`` asks for huge pages and keeps freed memory before its ``main`` runs."""
    code = (
        "import os, openclap.cli as c\n"
        "def main():\n"
        "    import torch\n"
        "    def resident_mb():\n"
        "        with open('/proc/self/statm') as f:\n"
        "            return int(f.read().split()[1]) * 4096 / 2**20\n"
        "    t = torch.ones(16 * 1024 * 1024)\n"
        "    before = resident_mb()\n"
        "    del t\n"
        "    print(os.environ.get('THP_MEM_ALLOC_ENABLE'), round(before - resident_mb()))\n"
        "    return 0\n"
        "c.main = main\n"
        "c.entry()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=clean_env()
    ).stdout.split()
    assert out[0] == "1"
    assert int(out[1]) < 8  # the freed 64 MB stayed in the heap
