"""An import-only stand-in for torchvision in the benchmark-only reference environment (never openclap's).

PyPI's torchvision wheels are CUDA builds whose C++ ops do not load beside the CPU torch here, and
torchvision then fails at import. laion_clap imports torchvision at module level (``transforms``,
``datasets``, ``ops.misc.FrozenBatchNorm2d``) but its unfused audio path and its text path call none of
it: only the fusion front end (``transforms.Resize``) and image / training helpers do. So this stand-in
provides the names, and any use of them raises, so that a path which needs torchvision cannot run on a
fake.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.0-openclap-benchmark-stand-in"


class Unavailable:
    """Any torchvision class: constructing one raises."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(
            f"torchvision.{type(self).__name__} is not available in the benchmark reference environment "
            "(import-only stand-in; laion_clap's unfused audio and text paths do not use it)"
        )


def unavailable(name: str) -> type:
    return type(name, (Unavailable,), {})


from . import datasets, ops, transforms  # noqa: E402,F401
