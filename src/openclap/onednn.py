"""fp32 linear layers on x86 CPUs through oneDNN's matrix product instead of the BLAS (MKL).

torch computes an fp32 ``nn.Linear`` on CPU with the BLAS it was built with, Intel's MKL on x86-64 wheels.
On AMD CPUs MKL takes an AVX2 code path: on the project's 2-core AMD EPYC (AVX-512) a 2048^3 fp32 product
ran at ~205 GFLOP/s through MKL and ~460-480 through oneDNN, which torch also ships (it computes bf16
products and convolutions with it already). The layers of the towers ran 2.0-2.3x faster that way, with
fp32 results that differ from MKL's only in summation order (~1e-7 relative; ``benchmarks/onednn_linear.py``).

``route_linears(module)`` gives every ``nn.Linear`` in ``module`` (and transformers' ``Conv1D``, GPT-2's
linear layer) a forward that calls oneDNN's fp32 product (``torch.ops.mkldnn._linear_pointwise``, the
operator inductor's own frozen graphs call) when it applies: inference (no gradients), a float32 input on
the CPU, no autocast, a plain tensor, and neither ``torch.compile``, ``torch.export``, ``torch.jit``
tracing nor a Python dispatch mode such as torch's FLOP counter (they see the ordinary ``F.linear``, so
compiled packages, ONNX graphs and FLOP counts are unchanged). Anything else takes ``nn.Linear``'s own
forward. The parameters, the state dict and training are untouched. It is off where oneDNN is missing, on
CPUs other than x86-64 (their BLAS is not MKL), if a first call on a small product disagrees with
``F.linear``, and when the environment says ``OPENCLAP_ONEDNN_LINEAR=0``.
"""

from __future__ import annotations

import functools
import os
import platform
import types

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

ENV = "OPENCLAP_ONEDNN_LINEAR"


@functools.cache
def available() -> bool:
    """Whether fp32 linears go through oneDNN here (x86-64, oneDNN built in, a probe agrees with F.linear,
    and ``OPENCLAP_ONEDNN_LINEAR`` is not ``0``)."""
    if os.environ.get(ENV, "1") == "0":
        return False
    if platform.machine().lower() not in ("x86_64", "amd64") or not torch.backends.mkldnn.is_available():
        return False
    try:
        g = torch.Generator().manual_seed(0)
        x, w, b = (torch.randn(*shape, generator=g) for shape in ((5, 24), (7, 24), (7,)))
        with torch.no_grad():
            got = torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
        return bool(torch.allclose(got, F.linear(x, w, b), rtol=1e-5, atol=1e-5))
    except (RuntimeError, AttributeError, NotImplementedError):
        return False


def _tracing() -> bool:
    """Compiling, exporting, tracing, or a Python dispatch mode active (a FLOP counter, fake tensors):
    each must see the ordinary linear."""
    return (
        torch.compiler.is_compiling()
        or torch.compiler.is_exporting()
        or torch.jit.is_tracing()
        or is_in_torch_dispatch_mode()
    )


def _eligible(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """The conditions in the module docstring."""
    return not (
        type(x) is not torch.Tensor
        or x.dtype != torch.float32
        or x.device.type != "cpu"
        or weight.dtype != torch.float32
        or torch.is_grad_enabled()
        or torch.is_autocast_enabled("cpu")
        or x.numel() == 0
        or _tracing()
    )


def _product(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ weight.T + bias`` over the last dimension of ``x`` (``weight`` [out, in], any strides)."""
    shape = x.shape
    out = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, shape[-1]), weight, bias, "none", [], "")
    return out.reshape(*shape[:-1], out.shape[-1])


def _linear_forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    if not _eligible(x, self.weight):
        return nn.Linear.forward(self, x)
    return _product(x, self.weight, self.bias)


def _conv1d_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """transformers' ``Conv1D`` (GPT-2's linear: ``x @ weight + bias``, weight [in, out])."""
    weight = self.weight
    if not _eligible(x, weight):
        return type(self).forward(self, x)
    return _product(x, weight.t(), self.bias)


def _is_conv1d(module: nn.Module) -> bool:
    cls = type(module)
    return cls.__name__ == "Conv1D" and cls.__module__.startswith("transformers")


def route_linears(module: nn.Module) -> int:
    """Give each ``nn.Linear`` (and transformers' ``Conv1D``) in ``module`` the oneDNN forward (see the
    module docstring); returns how many. Nothing changes (0) where oneDNN is not used (``available()``)."""
    if not available():
        return 0
    count = 0
    for sub in module.modules():
        # exact types: subclasses (e.g. quantised or LoRA layers) keep their own forward
        forward = _linear_forward if type(sub) is nn.Linear else _conv1d_forward if _is_conv1d(sub) else None
        if forward is not None:
            sub.forward = types.MethodType(forward, sub)  # type: ignore[method-assign]
            count += 1
    return count
