"""Native CPU kernels that torch lacks, compiled on this machine at first use and cached.

- ``openclap::swin_window_attention`` (``window_attention.cpp``): HTS-AT's window attention in one pass
  per (window, head): scores, relative-position bias, shift mask, softmax and the value product, reading
  the qkv linear's output (float32, or bfloat16 under bf16 autocast; the arithmetic float32) in place.
- ``openclap::frame_rfft_mel`` (``spectrogram.cpp``): a mel spectrogram's framing (the waveform
  zero-extended at its end), window, real FFT (float32, or float64), magnitude (or power) and float32
  filterbank in one pass, a vector of frames at a time (YAMNet's front end and the log-mel dB one).

Compiled audio packages (fp32 and bf16) call them: ``openclap.compiled`` traces the model inside
``fused()``, where the modules that have a native op use it, and links the package to the library;
eager code never does, so eager outputs, ONNX graphs and FLOP counts are those of the plain modules. It
needs what inductor needs anyway: a C++ compiler and torch's headers.

They need an x86-64 CPU with AVX-512 (elsewhere torch's ops run as before: the attention kernel's 16-float
vectors lowered to AVX2 ran 9x slower than them). The library is built with ``-march=native`` into
``$OPENCLAP_CACHE_DIR/kernels`` (default ``~/.cache/openclap/kernels``), named by a hash of its sources,
torch's version, the flags and the CPU's instruction-set flags, so a build for another machine or torch
is never loaded; the build (about 12 s) is atomic. ``OPENCLAP_NATIVE_KERNELS=0`` in the environment turns
them off (packages built then use torch's ops; a package's key says which kind it is).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import platform
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import torch

from openclap.user_cache import default_cache_dir

SOURCES = tuple(Path(__file__).with_name(name) for name in ("window_attention.cpp", "spectrogram.cpp"))
FLAGS = ["-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=c++17"]
#: the C shims an AOTInductor package calls (inductor's ``config.aot_inductor.custom_ops_to_c_shims``), by op
C_SHIMS = {
    "swin_window_attention": "AOTITorchError aoti_torch_cpu_swin_window_attention(AtenTensorHandle qkv, "
    "AtenTensorHandle bias, AtenTensorHandle* mask, int64_t heads, double scale, AtenTensorHandle* ret0)",
    "frame_rfft_mel": "AOTITorchError aoti_torch_cpu_frame_rfft_mel(AtenTensorHandle wave, "
    "AtenTensorHandle window, AtenTensorHandle mel_fb, int64_t hop, int64_t exponent, "
    "int64_t frames, AtenTensorHandle* ret0)",
}
C_SHIM_NAMES = tuple(f"aoti_torch_cpu_{op}" for op in C_SHIMS)
WINDOW_TOKENS = (16, 32, 64)  # what the kernel handles: tokens per window
MAX_HEAD_WIDTH = 32  # and channels per head
FFT_SIZES = (16, 4096)  # the spectrogram's FFT: a power of two in this range

ENV = "OPENCLAP_NATIVE_KERNELS"
_fusing = False


class KernelUnavailable(RuntimeError):
    """The native library cannot be built or loaded here (no compiler, no headers, not x86-64 / Linux, no
    AVX-512, an unusable cache folder)."""


def cache_dir() -> Path:
    """``kernels/`` in openclap's cache folder."""
    return default_cache_dir() / "kernels"


@functools.cache
def library_name() -> str:
    """``openclap_kernels_<hash>.so``: the hash covers the source, the flags, torch and the CPU (its
    instruction-set flags: ``-march=native`` may use any of them)."""
    digest = hashlib.blake2b(digest_size=8)
    for source in SOURCES:
        digest.update(source.read_bytes())
    meta = [
        torch.__version__,
        torch.backends.cpu.get_cpu_capability(),
        platform.machine(),
        *FLAGS,
        cpu_flags(),
    ]
    digest.update(repr(meta).encode())
    return f"openclap_kernels_{digest.hexdigest()}.so"


@functools.cache
def cpu_flags() -> str:
    """The first ``flags`` line of ``/proc/cpuinfo`` (empty where there is none): the instruction sets that
    code built with ``-march=native`` (this library, an AOTInductor package) may use."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            return next((line for line in info if line.startswith("flags")), "")
    except OSError:
        return ""


def library_path() -> Path:
    return cache_dir() / library_name()


def _build(path: Path) -> None:
    """Compile ``SOURCES`` into ``path`` (atomic) against the running torch."""
    from torch.utils import cpp_extension

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # the package is then built without the kernels
        problem = (error.strerror or str(error)).lower()
        folder = path.parent
        raise KernelUnavailable(f"cannot create the kernels' cache folder {folder} ({problem})") from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch_lib = Path(torch.__file__).parent / "lib"
    command = [
        os.environ.get("CXX", "g++"),
        *FLAGS,
        f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}",
        *(f"-I{p}" for p in cpp_extension.include_paths()),
        f"-I{sysconfig.get_paths()['include']}",
        *(str(source) for source in SOURCES),
        "-o",
        str(tmp),
        f"-L{torch_lib}",
        "-lc10",
        "-ltorch_cpu",
        f"-Wl,-soname,{path.name}",
        f"-Wl,-rpath,{torch_lib}",
    ]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
        os.replace(tmp, path)
    except FileNotFoundError as error:
        raise KernelUnavailable(f"no C++ compiler ({command[0]}): {error}") from None
    except subprocess.CalledProcessError as error:
        names = ", ".join(source.name for source in SOURCES)
        raise KernelUnavailable(f"building {names} failed:\n{error.stderr[-2000:]}") from None
    finally:
        tmp.unlink(missing_ok=True)


def load() -> Path:
    """Build the library if it is not cached, load it into torch (``torch.ops.openclap``) and return its
    path. Raises ``KernelUnavailable`` where it cannot be built (no compiler, not x86-64 Linux, no AVX-512)
    or ``OPENCLAP_NATIVE_KERNELS`` is ``0``."""
    if os.environ.get(ENV, "1") == "0":
        raise KernelUnavailable(f"native kernels are off ({ENV}=0)")
    if sys.platform != "linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        raise KernelUnavailable(f"native kernels are built for x86-64 Linux only, not {platform.machine()}")
    capability = torch.backends.cpu.get_cpu_capability()
    if not capability.startswith("AVX512"):  # lowered to AVX2 the kernel ran 9x slower than torch's ops
        raise KernelUnavailable(f"native kernels need AVX-512; torch finds {capability} on this CPU")
    return _load()


@functools.cache
def _load() -> Path:
    path = library_path()
    if not path.is_file():
        _build(path)
    torch.ops.load_library(str(path))
    torch.library.register_fake("openclap::swin_window_attention")(_window_attention_shape)
    torch.library.register_fake("openclap::frame_rfft_mel")(_spectrogram_shape)
    return path


def available() -> bool:
    """Whether the library is (or can be) built and loaded here."""
    try:
        load()
    except KernelUnavailable:
        return False
    return True


def _window_attention_shape(
    qkv: torch.Tensor, bias: torch.Tensor, mask: torch.Tensor | None, heads: int, scale: float
) -> torch.Tensor:
    return qkv.new_empty(qkv.shape[0], qkv.shape[1], qkv.shape[2] // 3)


def _spectrogram_shape(
    wave: torch.Tensor, window: torch.Tensor, mel_fb: torch.Tensor, hop: int, exponent: int, frames: int
) -> torch.Tensor:
    return wave.new_empty(wave.shape[0], mel_fb.shape[1], frames, dtype=torch.float32)


@contextlib.contextmanager
def fused() -> Iterator[None]:
    """While active (tracing a compiled package), modules that have a native op call it where it fits.
    Loads the library first (``KernelUnavailable`` where it cannot be), so the ops exist."""
    global _fusing
    load()
    before, _fusing = _fusing, True
    try:
        yield
    finally:
        _fusing = before


def fusing() -> bool:
    return _fusing


def window_attention_fits(tokens: int, head_width: int, dtype: torch.dtype, device: torch.device) -> bool:
    """Whether the fused op computes this attention: qkv float32 or bfloat16 (bf16 autocast's linear output)
    on the CPU, a window of 16, 32 or 64 tokens, heads at most 32 wide."""
    return (
        dtype in (torch.float32, torch.bfloat16)
        and device.type == "cpu"
        and tokens in WINDOW_TOKENS
        and 1 <= head_width <= MAX_HEAD_WIDTH
    )


def spectrogram_fits(n_fft: int, dtype: torch.dtype, device: torch.device) -> bool:
    """Whether ``frame_rfft_mel`` computes this spectrogram: an FFT in float32 or float64 on the CPU,
    ``n_fft`` a power of two from 16 to 4096."""
    low, high = FFT_SIZES
    power_of_two = low <= n_fft <= high and n_fft & (n_fft - 1) == 0
    return dtype in (torch.float32, torch.float64) and device.type == "cpu" and power_of_two


def _ops() -> list[torch._ops.OpOverload]:
    return [getattr(torch.ops.openclap, op).default for op in C_SHIMS]


def uses_native_ops(program: torch.export.ExportedProgram) -> bool:
    """Whether an exported program calls one of the library's ops, in its graph or a nested one (bf16
    autocast's regions are subgraphs): its package must then link the library."""
    targets = set(_ops())
    for module in program.graph_module.modules():
        graph = getattr(module, "graph", None)
        if isinstance(graph, torch.fx.Graph) and any(node.target in targets for node in graph.nodes):
            return True
    return False


@contextlib.contextmanager
def on_link_path() -> Iterator[None]:
    """The loaded library's folder on the linker's search path (``LIBRARY_PATH``) while inductor links a
    package to it (``inductor_options`` names the library). The folder the library was loaded from, not
    the cache folder now: a process that changed ``OPENCLAP_CACHE_DIR`` after loading it had linked
    against a folder without it. A library deleted since it was loaded (its cache cleared) is built there
    again first."""
    path = load()
    if not path.is_file():
        _build(path)
    folder = path.parent
    before = os.environ.get("LIBRARY_PATH")
    os.environ["LIBRARY_PATH"] = os.pathsep.join(p for p in (str(folder), before) if p)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("LIBRARY_PATH", None)
        else:
            os.environ["LIBRARY_PATH"] = before


def inductor_options() -> dict[str, object]:
    """Inductor options that make a package call the library's C shim directly (no proxy executor); link it
    inside ``on_link_path()``."""
    return {
        "aot_inductor.custom_ops_to_c_shims": {
            getattr(torch.ops.openclap, op).default: [declaration] for op, declaration in C_SHIMS.items()
        },
        "aot_inductor.custom_op_libs": [f":{library_name()}"],
    }
