"""openclap.allocator: a freed 64 MB tensor's memory reused without page faults, and huge pages for fresh
ones; each measured in a child process by its minor page faults."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from openclap.allocator import ENV, MALLOC_ENV, thp_mode

needs_thp = pytest.mark.skipif(
    thp_mode() not in ("always", "madvise"), reason="needs Linux transparent huge pages (always or madvise)"
)
needs_glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="mallopt's thresholds are glibc's",
)

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
    env = {k: v for k, v in os.environ.items() if k != ENV and k not in MALLOC_ENV}
    env.pop("GLIBC_TUNABLES", None)
    return {**env, **extra}


def faults(huge: str, freed: str = "default", **env: str) -> tuple[bool, bool, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, huge, freed],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(**env),
    ).stdout.split()
    return out[0] == "True", out[1] == "True", int(out[2])


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


@needs_thp
@needs_glibc
def test_freed_memory_is_reused_without_page_faults() -> None:
    used, kept, count = faults("use", "keep")
    _, _, fresh = faults("use", "default")
    assert used and kept
    assert fresh > 4 * 64 // 2  # each 64 MB buffer mapped afresh: its 32 huge pages fault again
    assert count < 20  # the freed buffer comes back already mapped


@needs_thp
@needs_glibc
def test_glibc_variables_in_the_environment_decide_first() -> None:
    _, kept, count = faults("use", "keep", MALLOC_MMAP_THRESHOLD_="65536")
    assert not kept
    assert count > 4 * 64 // 2  # the environment's threshold (64 KiB) stands
    _, kept, _ = faults("use", "keep", GLIBC_TUNABLES="glibc.malloc.trim_threshold=65536")
    assert not kept


@needs_thp
@needs_glibc
def test_the_command_sets_up_the_allocator() -> None:
    """``openclap.cli.entry`` asks for huge pages and keeps freed memory before its ``main`` runs."""
    code = (
        "import os, resource, openclap.cli as c\n"
        "def main():\n"
        "    import torch\n"
        "    def touch():\n"
        "        t = torch.ones(16 * 1024 * 1024)\n"
        "        del t\n"
        "    touch()\n"
        "    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "    for _ in range(4):\n"
        "        touch()\n"
        "    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "    print(os.environ.get('THP_MEM_ALLOC_ENABLE'), after - before)\n"
        "    return 0\n"
        "c.main = main\n"
        "c.entry()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=clean_env()
    ).stdout.split()
    assert out[0] == "1"
    assert int(out[1]) < 20
