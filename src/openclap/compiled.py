"""The compiled audio path: an AOTInductor package per model, precision and machine, cached on disk.

``ClapModel.compile_towers()`` calls ``compiled_audio(model)``. On a CPU, for a model whose clips have a
fixed length (every family but LAION's fusion models), the whole ``encode_audio`` (front end, encoder,
projection, normalisation) is exported with a dynamic batch dimension and compiled ahead of time by
inductor into a ``.pt2`` package under ``$OPENCLAP_CACHE_DIR/compiled`` (default
``~/.cache/openclap/compiled``). The package's name is a hash of everything its code depends on: the
audio-side weights, the config, the precision, torch's version and the CPU's instruction set, so a later
process loads it in milliseconds (its compiled library called through ctypes, without the GIL, see
``NativePackage``; no Python compiler stack is imported) instead of
compiling again (30-60 s). Only packages this module wrote under their content name are ever loaded; an
unreadable one is rebuilt. The cache keeps the ``KEEP_PER_MODEL`` most recently used packages of each model
and precision (``prune_packages``). Elsewhere (CUDA, fusion models) the modules are compiled in place with
``torch.compile`` at their first batch.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import os
import platform
import re
import sys
import tempfile
import warnings
import weakref
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import torch

from openclap import kernels
from openclap.checkpoint import tensor_bytes
from openclap.user_cache import default_cache_dir

if TYPE_CHECKING:
    from openclap.model import ClapModel

MAX_BATCH = 4096  # the package's dynamic batch dimension allows 1 to this many clips
# Freezing: the weights become constants of the compiled code, so inductor folds what depends on them
# only and hands convolutions and linear layers oneDNN's pre-packed weights. Measured here beside the
# package without it (benchmarks/compile_check.py, clips/s): HTS-AT fp32 1.06-1.17x, Cnn14 fp32 1.10x,
# the default model 1.00-1.07x in bf16; the default model's bf16 package half the size (9.9 MB).
# Precision casts kept: inductor otherwise drops a float32 -> bf16 -> float32 round trip, which zeroes
# the remainder of the split-precision input convolution (audio/encoders/input_conv.py): the default
# model's bf16 package against eager bf16, min cosine 0.99988 without, 0.99997 with, same speed.
# Read-only: aoti_compile_and_package writes "aot_inductor.package" into the options it is given, and had
# done so into this one, so a package built after another in one process (bf16 after fp32) was stored
# under a key no fresh process computes, and a later run built it again.
INDUCTOR_OPTIONS: Mapping[str, Any] = MappingProxyType({"freezing": True, "emulate_precision_casts": True})
# Packages kept per model name and precision (the most recently used): a new torch, new options or new
# weights make a new package, and a published tower's is 65-330 MB.
KEEP_PER_MODEL = 2
AudioFn = Callable[[torch.Tensor], torch.Tensor]
# Model instances in a loaded package: that many calls may run at once (``openclap.batch_threads`` runs
# a batch per intra-op thread); more wait for a free one. They share the weights (msclap-2023 fp32
# resident 1091 MB after a call with one instance or two).
RUNNERS = max(1, min(8, os.cpu_count() or 1))


def cache_dir() -> Path:
    """``compiled/`` in openclap's cache folder (``$OPENCLAP_CACHE_DIR``, else ``~/.cache/openclap``)."""
    return default_cache_dir() / "compiled"


@functools.cache
def source_digest() -> str:
    """Hash of the source of the code a package is traced from (``openclap.audio``, the model, the
    layers, this module and the native kernels), so a package built by other code is never loaded."""
    root = Path(__file__).resolve().parent
    files = sorted((root / "audio").rglob("*.py")) + [
        root / n for n in ("model.py", "layers.py", "compiled.py")
    ]
    files += sorted((root / "kernels").glob("*.py")) + sorted((root / "kernels").glob("*.cpp"))
    digest = hashlib.blake2b(digest_size=16)
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def package_key(model: ClapModel) -> str:
    """Hash of what the compiled code depends on (weights, config, precision, openclap's audio source,
    torch, CPU, Python, whether it calls ``openclap.kernels``). The CPU is its instruction-set flags, not
    only torch's capability name: inductor compiles with ``-march=native``, so a package built where
    AVX512-BF16 or AMX exists may not run on another "AVX512" CPU (a cache folder shared between
    machines)."""
    digest = hashlib.blake2b(digest_size=16)
    meta = {
        "source": source_digest(),
        "config": model.config.to_dict(),
        "precision": model.precision,
        "torch": torch.__version__,
        "cpu": torch.backends.cpu.get_cpu_capability(),
        "cpu_flags": kernels.cpu_flags(),
        "machine": platform.machine(),
        "python": sys.version_info[:2],
        "max_batch": MAX_BATCH,
        "inductor": dict(INDUCTOR_OPTIONS),
        "native_kernels": native_kernels(model),  # on and off build different code
    }
    digest.update(json.dumps(meta, sort_keys=True, default=str).encode())
    for module in (model.frontend, model.audio_encoder, model.audio_projection):
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor_bytes(tensor))
    return digest.hexdigest()


class _EncodeAudio(torch.nn.Module):
    def __init__(self, model: ClapModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # encode_audio's eager path
        return self.model.project_audio(self.model.audio_features(wave), normalize=True)


def build_package(model: ClapModel, path: Path, options: dict[str, Any] | None = None) -> None:
    """Export ``model.encode_audio`` (batch dimension dynamic) and compile it into ``path`` (atomic;
    its folder exists: ``compiled_audio`` made it) with inductor ``options`` (default
    ``INDUCTOR_OPTIONS``; other values are for benchmarks, as the package key assumes the default)."""
    from torch._inductor import aoti_compile_and_package

    samples = model.config.audio.clip_samples
    example = torch.zeros(2, samples)
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.pt2")  # inductor wants the .pt2 suffix
    configs = dict(INDUCTOR_OPTIONS if options is None else options)
    fuse = native_kernels(model)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # torch's own deprecation notices about its internals
        tracing = kernels.fused() if fuse else contextlib.nullcontext()
        with tracing:
            module = _EncodeAudio(model).eval()
            program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
        linked = fuse and kernels.uses_native_ops(program)
        if linked:
            configs.update(kernels.inductor_options())
        try:
            with kernels.on_link_path() if linked else contextlib.nullcontext():
                aoti_compile_and_package(program, package_path=str(tmp), inductor_configs=configs)
            os.replace(tmp, path)  # atomic: a reader sees no package or a whole one
        finally:
            tmp.unlink(missing_ok=True)


def native_kernels(model: ClapModel) -> bool:
    """Whether the package may call ``openclap.kernels`` (a front end or an encoder that asks for them,
    e.g. YAMNet's log-mel or HTS-AT's window attention, and the library builds here)."""
    asks = any(getattr(module, "native_kernels", False) for module in (model.frontend, model.audio_encoder))
    return asks and kernels.available()


def _needs_kernels(path: Path) -> bool:
    """Whether a package's compiled code calls ``openclap.kernels``' library (its wrapper source says)."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.endswith(".wrapper.cpp"):
                code = archive.read(name)
                if any(shim.encode() in code for shim in kernels.C_SHIM_NAMES):
                    return True
    return False


def _extern_nodes(archive: zipfile.ZipFile) -> int:
    """How many operators the package's code calls through AOTInductor's proxy executor (its
    ``*.wrapper.json``), which the C entry point is not given."""
    count = 0
    for name in archive.namelist():
        if name.endswith(".wrapper.json"):
            count += len(json.loads(archive.read(name)).get("nodes", []))
    return count


def load_package(path: Path) -> AudioFn:
    """The package's ``[B, clip_samples] -> [B, D]`` function.

    The package's compiled library is called through its C entry point with the GIL released
    (``NativePackage``): torch's own loader holds the GIL for the whole call, so a server's other threads
    stood still meanwhile (a Python thread ran at 1 % of its speed beside it, 76 % beside this). A package
    of another layout goes through torch's loader, which also reports a damaged one. A package linked to
    ``openclap.kernels``' library loads it first (building it if it is not cached)."""
    if _needs_kernels(path):
        kernels.load()
    try:
        return NativePackage(path)
    except (OSError, ValueError, RuntimeError, zipfile.BadZipFile):
        runner = torch._C._aoti.AOTIModelPackageLoader(str(path), "model", False, RUNNERS, -1)
        return lambda wave: runner.run([wave.contiguous()])[0]


_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype, _capsule_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
_capsule = ctypes.pythonapi.PyCapsule_New
_capsule.restype, _capsule.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


class NativePackage:
    """A package's one compiled library (weights inside), run through AOTInductor's C interface by ctypes,
    which releases the GIL during the call; ``RUNNERS`` calls can run at once. Raises ``ValueError`` for a
    package of another layout or one whose code calls operators through a proxy executor, and
    ``RuntimeError`` when the library refuses to start."""

    def __init__(self, path: Path) -> None:
        with zipfile.ZipFile(path) as archive:
            libraries = [n for n in archive.namelist() if n.endswith(".so")]
            if len(libraries) != 1 or not libraries[0].endswith(
                "/data/aotinductor/model/" + Path(libraries[0]).name
            ):
                raise ValueError(f"{path}: expected one compiled library, found {libraries}")
            if _extern_nodes(archive):  # ops that only torch's loader runs (through its proxy executor)
                raise ValueError(f"{path}: calls operators through a proxy executor")
            with tempfile.TemporaryDirectory() as tmp:  # the mapped library outlives its file
                self._lib = ctypes.CDLL(archive.extract(libraries[0], tmp))
        lib = self._lib
        lib.AOTInductorModelContainerRun.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.c_size_t,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self._handle = ctypes.c_void_p()
        if lib.AOTInductorModelContainerCreateWithDevice(
            ctypes.byref(self._handle), ctypes.c_size_t(RUNNERS), b"cpu", None
        ):
            raise RuntimeError(f"{path}: the compiled library did not start")
        weakref.finalize(self, lib.AOTInductorModelContainerDelete, self._handle)
        count = ctypes.c_size_t()
        if lib.AOTInductorModelContainerGetNumOutputs(self._handle, ctypes.byref(count)) or not count.value:
            raise RuntimeError(f"{path}: the compiled library reports no outputs")
        self._outputs = count.value

    def __call__(self, wave: torch.Tensor) -> torch.Tensor:
        handles = torch._C._aoti.unsafe_alloc_void_ptrs_from_tensors([wave.contiguous()])  # run takes them
        inputs = (ctypes.c_void_p * 1)(_capsule_pointer(handles[0], None))
        outputs = (ctypes.c_void_p * self._outputs)()
        code = self._lib.AOTInductorModelContainerRun(
            self._handle, inputs, 1, outputs, self._outputs, None, None
        )
        if code:
            raise RuntimeError(f"the compiled audio package failed (code {code}; its message is above)")
        stolen = torch._C._aoti.alloc_tensors_by_stealing_from_void_ptrs(
            [_capsule(p, None, None) for p in outputs]
        )
        return stolen[0]


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        problem = (err.strerror or str(err)).lower()
        raise ValueError(
            f"compiled-package cache {folder}: cannot create it ({problem}); set OPENCLAP_CACHE_DIR to a "
            "writable folder"
        ) from None
    if not os.access(folder, os.W_OK):
        raise ValueError(
            f"compiled-package cache {folder}: not writable; set OPENCLAP_CACHE_DIR to a writable folder"
        )


def aoti_applies(model: ClapModel) -> bool:
    """A CPU model whose clips all have the config's length (not a fusion model)."""
    return model.logit_scale.device.type == "cpu" and model.config.audio.fusion_shrink is None


def compiled_audio(model: ClapModel, log: Callable[[str], Any] | None = None) -> AudioFn | None:
    """The cached (or newly built) package's function for the model's current precision, or None where
    ``aoti_applies`` is false."""
    if not aoti_applies(model):
        return None
    path = cache_dir() / f"{model.config.name}-{model.precision}-{package_key(model)}.pt2"
    if path.is_file():
        try:
            run = load_package(path)
        except Exception:  # a damaged or foreign file under our name: rebuild it
            path.unlink(missing_ok=True)
        else:
            _touch(path)  # "recently used", for prune_packages
            return run
    _check_writable(path.parent)  # before the minutes of compiling, not after
    if log is not None:
        log(f"compiling {model.config.name}'s audio path ({model.precision}) once for this machine -> {path}")
    build_package(model, path)
    removed = prune_packages(path)
    if removed and log is not None:
        log(f"removed {len(removed)} older compiled package(s) of {model.config.name} ({model.precision})")
    return load_package(path)


def _touch(path: Path) -> None:
    with contextlib.suppress(OSError):  # a read-only cache still serves its packages
        os.utime(path)


def prune_packages(path: Path, keep: int = KEEP_PER_MODEL) -> list[Path]:
    """Delete all but the ``keep`` most recently used packages (by modification time, which a load
    renews) of ``path``'s model and precision, never ``path`` itself; returns the deleted paths.

    Siblings are the files named ``{model}-{precision}-{32 hex digits}.pt2`` with ``path``'s model and
    precision; nothing else in the folder is touched (a model whose name extends this one's is not a
    sibling: its name leaves no key right after the prefix)."""
    prefix = path.name[: -len(path.name.rsplit("-", 1)[1])]  # "{model}-{precision}-"
    pattern = re.compile(re.escape(prefix) + r"[0-9a-f]{32}\.pt2")
    siblings = [
        other
        for other in path.parent.iterdir()
        if pattern.fullmatch(other.name) and other != path and other.is_file()
    ]
    siblings.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    removed = siblings[max(keep - 1, 0) :]
    for old in removed:
        old.unlink(missing_ok=True)
    return removed
