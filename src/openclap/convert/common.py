"""Shared machinery of the converters: safe reading of legacy pickles, explicit key maps, checks of the
derived buffers (STFT kernels, mel filterbanks, Swin masks) that openclap recomputes instead of storing.
"""

from __future__ import annotations

import math
import pickle
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from openclap.audio.frontend import mel_filterbank
from openclap.config import AudioFrontendConfig
from openclap.convert import safe_pickle


class ConversionError(ValueError):
    """A published checkpoint that cannot be converted; the message names the file and the problem."""


# ----- reading legacy .pth / .pt files without running code -------------------------------------------

def _numpy_globals() -> list[tuple[Callable[..., Any], str]]:
    """Plain numpy values that published training checkpoints hold next to the weights (metrics saved as
    numpy scalars or arrays), under both the numpy 1.x (``numpy.core``) and 2.x (``numpy._core``) names."""
    core = getattr(np, "_core", None) or np.core
    out: list[tuple[Callable[..., Any], str]] = [(np.dtype, "numpy.dtype"), (np.ndarray, "numpy.ndarray")]
    for code in ("?", "b", "B", "h", "H", "i", "I", "l", "L", "q", "Q", "e", "f", "d"):  # numeric dtypes
        cls = type(np.dtype(code))
        if cls is not np.dtype:  # numpy >= 1.25 gives every dtype its own class
            out.append((cls, f"{cls.__module__}.{cls.__name__}"))
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out.append((core.multiarray.scalar, f"{module}.scalar"))
        out.append((core.multiarray._reconstruct, f"{module}._reconstruct"))
    return out


def load_legacy(path: str | Path) -> Any:
    """Read a ``.pth`` / ``.pt`` / ``.bin`` file with torch's weights-only unpickler.

    Only tensors, containers, plain Python values and numpy scalars/arrays are accepted; a file that
    would need any other class or function (i.e. running code while unpickling) is refused. Pickle
    protocols above 2, whose opcodes that unpickler does not parse, are first rewritten into protocol 2
    by ``safe_pickle`` (parsing only) and then read by the same unpickler: Python's general unpickler
    never runs.
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{path}: file not found")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol")
        try:
            try:
                with torch.serialization.safe_globals(_numpy_globals()):
                    return torch.load(path, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError as err:
                if "Unsupported operand" not in str(err):
                    raise
            # pickle protocol >= 3: rewritten to protocol 2 for the same weights-only unpickler
            with torch.serialization.safe_globals(_numpy_globals()):
                return torch.load(path, map_location="cpu", weights_only=False, pickle_module=safe_pickle)
        except pickle.UnpicklingError as err:
            raise _refused(path, str(err)) from None
        except (EOFError, ValueError, KeyError, IndexError, TypeError, AttributeError, RuntimeError,
                MemoryError, OverflowError) as err:  # a malformed or hostile file, not a refused global
            first = (str(err).strip().splitlines() or [""])[0]
            problem = f"{type(err).__name__}: {first}"
            raise ConversionError(f"{path}: not a readable checkpoint ({problem})") from None


def _refused(path: Path, message: str) -> ConversionError:
    found = re.search(r"GLOBAL ([\w.]+)", message)
    what = f"the class or function {found.group(1)}" if found else "objects other than tensors"
    return ConversionError(
        f"{path}: refused to load: unpickling it needs {what}, which could run arbitrary code. openclap "
        "reads only tensors and plain values. If you trust the file, re-save its state dict elsewhere, "
        "e.g. torch.save(torch.load(f, weights_only=False)['state_dict'], 'clean.pt'), and convert that."
    )


def unwrap_state(obj: Any, source: str) -> dict[str, torch.Tensor]:
    """The state dict inside a published checkpoint: ``{"model": sd}`` (msclap), ``{"state_dict": sd}``
    (LAION, keys prefixed ``module.`` by DDP) or a bare state dict."""
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise ConversionError(f"{source}: no state dict found (expected a dict of tensors, or one under "
                              "'model' / 'state_dict')")
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    others = sorted(str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor))
    if others:
        raise ConversionError(f"{source}: state dict holds non-tensor entries {others[:5]}")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


# ----- explicit key maps -----------------------------------------------------------------------------

@dataclass
class KeyMap:
    """A family's key layout: ``rules`` (regex -> replacement, first match wins), ``ignore`` (keys that are
    unused by the reference model and dropped) and ``derived`` (buffers openclap recomputes; checked)."""

    rules: list[tuple[str, str]]
    ignore: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)

    def apply(self, state: Mapping[str, torch.Tensor], source: str
              ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[str]]:
        """-> (mapped state, derived buffers by *target* name, ignored source keys)."""
        mapped: dict[str, torch.Tensor] = {}
        derived: dict[str, torch.Tensor] = {}
        ignored: list[str] = []
        unknown: list[str] = []
        for key, value in state.items():
            if any(re.fullmatch(p, key) for p in self.ignore):
                ignored.append(key)
                continue
            target = self.target(key)
            if target is None:
                unknown.append(key)
            elif any(re.fullmatch(p, key) for p in self.derived):
                derived[target] = value
            elif target in mapped:
                raise ConversionError(f"{source}: two checkpoint keys map to {target}")
            else:
                mapped[target] = value
        if unknown:
            shown = ", ".join(unknown[:10]) + (f", ... ({len(unknown)} in all)" if len(unknown) > 10 else "")
            raise ConversionError(f"{source}: keys outside the known layout: {shown}")
        return mapped, derived, ignored

    def target(self, key: str) -> str | None:
        for pattern, replacement in self.rules:
            if re.fullmatch(pattern, key):
                return re.sub(pattern, replacement, key)
        return None


# ----- checks of derived buffers ---------------------------------------------------------------------

def stft_kernels(n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """torchlibrosa's conv1d STFT kernels [n_fft//2+1, 1, n_fft]: cos and -sin DFT rows x periodic Hann."""
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    angle = 2 * math.pi * k * n / n_fft
    return (torch.cos(angle) * window)[:, None].float(), (-torch.sin(angle) * window)[:, None].float()


def check_derived(model: nn.Module, derived: Mapping[str, torch.Tensor], audio: AudioFrontendConfig,
                  source: str) -> list[str]:
    """Compare every stored derived buffer with openclap's own value; raise on a difference.

    Returns the names checked. STFT kernels and the Slaney ``melW`` of torchlibrosa front ends are compared
    with tolerance 1e-5 (relative to their peak); Swin ``attn_mask`` / ``relative_position_index`` exactly.
    """
    buffers = dict(model.named_buffers())
    fb_rate = audio.filterbank_sample_rate or audio.sample_rate
    checked = []
    for name, stored in derived.items():
        if name.endswith(("conv_real.weight", "conv_imag.weight")):
            real, imag = stft_kernels(audio.n_fft)
            want = real if "conv_real" in name else imag
        elif name.endswith("melW"):  # torchlibrosa LogmelFilterBank: always librosa's Slaney filters
            fb = mel_filterbank(fb_rate, audio.n_fft, audio.n_mels, audio.f_min, audio.f_max)
            want = torch.from_numpy(fb).float()
        elif name in buffers:
            want = buffers[name]
        else:
            raise ConversionError(f"{source}: stored buffer {name} has no counterpart in the openclap model")
        if stored.shape != want.shape:
            raise ConversionError(f"{source}: {name} has shape {tuple(stored.shape)}, "
                                  f"openclap computes {tuple(want.shape)}")
        if want.is_floating_point() and name.endswith(("weight", "melW")):
            diff = float((stored.float() - want).abs().max())
            ok = diff <= 1e-5 * float(want.abs().max())
        else:
            diff = float((stored.double() - want.double()).abs().max()) if stored.numel() else 0.0
            ok = diff == 0.0
        if not ok:
            raise ConversionError(f"{source}: stored {name} differs from openclap's (max |diff| {diff:.3g}); "
                                  "the checkpoint was made with other front-end or window settings")
        checked.append(name)
    return checked


def count_blocks(keys: Iterable[str], prefix: str) -> list[int]:
    """Swin depths from key names: the number of ``{prefix}layers.N.blocks.M`` per layer N."""
    depth: dict[int, int] = {}
    for key in keys:
        m = re.match(re.escape(prefix) + r"layers\.(\d+)\.blocks\.(\d+)\.", key)
        if m:
            layer, block = int(m.group(1)), int(m.group(2))
            depth[layer] = max(depth.get(layer, 0), block + 1)
    return [depth[i] for i in range(len(depth))]
