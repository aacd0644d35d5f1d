"""Device names as users write them (``cpu``, ``cuda``, ``cuda:1``, ``mps``, ``auto``) -> ``torch.device``,
with a clear error for a device this machine or this torch build does not have."""

from __future__ import annotations

import torch


def pick_device(spec: str | torch.device = "cpu") -> torch.device:
    """``auto`` -> ``cuda`` when CUDA is usable, else ``cpu``; any other name is checked, so a missing GPU is
    a ``ValueError`` that says what is there, not a failure deep inside torch."""
    if isinstance(spec, torch.device):
        device = spec
    else:
        name = str(spec).strip().lower()
        if name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(name)
        except RuntimeError:
            raise ValueError(
                f"device {spec!r} is not a torch device name; use cpu, cuda, cuda:N, mps or auto"
            ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "has no CUDA support" if torch.version.cuda is None else "sees no CUDA device"
            raise ValueError(
                f"device {str(spec)!r}: this torch ({torch.__version__}) {build}; use cpu or auto"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"device {str(spec)!r}: only {count} CUDA device(s) visible (cuda:0 to cuda:{count - 1})"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(spec)!r}: MPS (Apple GPU) is not available here; use cpu or auto")
    return device


def check_compiler(device: torch.device) -> None:
    """Raise ``ValueError`` unless ``torch.compile`` (inductor) can build kernels for ``device``: a C++
    compiler on a CPU (``$CXX``, ``g++``, ``clang++`` or ``c++`` on PATH); CUDA brings its own (triton)."""
    import os
    import shutil

    if device.type == "cuda":
        return
    if device.type != "cpu":
        raise ValueError(f"compiling runs on cpu or cuda, not {device.type}; leave compiling off")
    names = [os.environ["CXX"]] if os.environ.get("CXX") else ["g++", "clang++", "c++"]
    if not any(shutil.which(name) for name in names):
        raise ValueError(
            "compiling needs a C++ compiler for torch's inductor on a CPU (g++ or clang++ on PATH, or $CXX); "
            "none was found: install one or leave compiling off"
        )
