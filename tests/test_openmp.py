"""openclap.openmp: the command shortens libgomp's spin before torch loads, and defers to the environment."""

from __future__ import annotations

import os
import subprocess
import sys

CHILD = """
import os, sys
import openclap.cli as c
def main():
    import torch  # loads libgomp, which reads GOMP_SPINCOUNT now
    print(os.environ.get("GOMP_SPINCOUNT"), "torch loaded after:", "torch" in sys.modules)
    return 0
c.main = main
c.entry()
"""


def run(**extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, env={**env, **extra}
    )
    return out.stdout.strip()


def test_the_command_sets_a_shorter_spin_before_torch_loads() -> None:
    assert run() == "100000 torch loaded after: True"


def test_the_environment_decides_first() -> None:
    assert run(GOMP_SPINCOUNT="7").startswith("7 ")
    assert run(OMP_WAIT_POLICY="active").startswith("None ")


def test_nothing_changes_once_torch_is_loaded() -> None:
    code = (
        "import os, torch\n"
        "from openclap.openmp import shorter_spin\n"
        "print(shorter_spin(), os.environ.get('GOMP_SPINCOUNT'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["False", "None"]
