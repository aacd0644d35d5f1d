"""openclap.allocator: large tensors on huge pages, so a fresh 64 MB tensor costs few page faults."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from openclap.allocator import ENV, thp_mode

pytestmark = pytest.mark.skipif(
    thp_mode() not in ("always", "madvise"), reason="needs Linux transparent huge pages (always or madvise)"
)

# Counts the minor page faults of allocating, writing and freeing a 64 MB tensor four times.
CHILD = """
import resource, sys
from openclap.allocator import use_huge_pages
used = use_huge_pages() if sys.argv[1] == "use" else False
import torch
def touch():
    t = torch.ones(16 * 1024 * 1024)
    del t
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    touch()
print(used, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
PAGES = 4 * 64 * 1024 * 1024 // os.sysconf("SC_PAGE_SIZE")


def faults(mode: str, value: str | None = None) -> tuple[bool, int]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if value is not None:
        env[ENV] = value
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    return out[0] == "True", int(out[1])


def test_huge_pages_cut_the_page_faults_of_fresh_tensors() -> None:
    used, huge = faults("use")
    _, small = faults("default")
    assert used
    if thp_mode() == "madvise":  # with "always" every large mapping gets huge pages anyway
        assert small > PAGES // 2  # each buffer mapped afresh: nearly every 4 KiB page faults again
    assert huge < PAGES // 20


def test_the_environment_decides_first() -> None:
    used, count = faults("use", "0")
    assert not used
    if thp_mode() == "madvise":
        assert count > PAGES // 2


def test_the_command_asks_for_huge_pages() -> None:
    code = (
        "import os, openclap.cli as c; c.main = lambda: 0; c.entry(); "
        "print(os.environ.get('THP_MEM_ALLOC_ENABLE'))"
    )
    env = {k: v for k, v in os.environ.items() if k != ENV}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "1"
