"""How the ``openclap`` command ends: one line on stderr for every user or environment error, never a
traceback.

``run_command(func, args)`` calls a subcommand and turns what it raises into an exit code:

- a user error (bad value, missing or unreadable file, bad checkpoint or audio, a missing optional
  package): ``error: ...`` naming the file or option, exit 2
- Ctrl-C: ``interrupted``, exit 130 (as a shell reports SIGINT)
- stdout closed early (``openclap models | head``): no message, exit 141 (as a shell reports SIGPIPE)
- anything else is a bug: ``error: internal error (Type: message)`` and how to see the traceback
  (``OPENCLAP_DEBUG=1``, which also re-raises every error above), exit 1

``check_output_path`` and ``require_modules`` let a command fail on an output path or a missing
optional package before it does any work; ``positive_int`` is an argparse type for counts.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
DEBUG_ENV = "OPENCLAP_DEBUG"

# Optional packages -> the extra that installs them (pyproject.toml [project.optional-dependencies]).
EXTRA_OF = {
    "sklearn": "eval",
    "matplotlib": "eval",
    "pyarrow": "parquet",
    "tensorboard": "train",
    "faiss": "index",
    "fastapi": "serve",
    "uvicorn": "serve",
    "multipart": "serve",
}
PIP_NAME = {"sklearn": "scikit-learn", "faiss": "faiss-cpu", "multipart": "python-multipart"}


def positive_int(text: str) -> int:
    """An argparse ``type``: an integer of at least 1 (counts, sizes, rounds, threads)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def require_modules(modules: Sequence[str], purpose: str, extra: str | None = None) -> None:
    """``ImportError`` naming the missing package(s) and the ``pip install`` that brings them, unless
    every module in ``modules`` can be imported (checked without importing it)."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        names = ", ".join(PIP_NAME.get(m, m) for m in missing)
        extra = extra or EXTRA_OF.get(missing[0], "eval")
        raise ImportError(f"{purpose} needs {names}, which is not installed: pip install 'openclap[{extra}]'")


def check_output_path(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Fail now, not after the work, when ``path`` cannot be written: it is a folder, its folder cannot
    be created, or a file cannot be created there. Creates the missing folders; returns ``Path(path)``."""
    out = Path(path)
    if out.is_dir():
        raise ValueError(f"{option} {out}: is a folder; give a file name")
    blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise ValueError(f"{option} {out}: {blocker} is a file, not a folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".probe", dir=out.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        problem = (err.strerror or str(err)).lower()
        raise ValueError(f"{option} {out}: cannot create a file in {out.parent} ({problem})") from None
    if out.exists() and not os.access(out, os.W_OK):
        raise ValueError(f"{option} {out}: the file exists and is not writable")
    return out


def _os_problem(err: OSError) -> str:
    problem = (err.strerror or str(err)).lower()
    return f"{err.filename}: {problem}" if err.filename else problem


def _message(err: BaseException) -> str | None:
    """The one-line message of a user or environment error, or None for an unexpected one."""
    if isinstance(err, ValueError) and not isinstance(err, UnicodeError):
        return str(err)  # AudioError, CheckpointError, ManifestError, ConversionError, ... are ValueErrors
    if _is_bad_data(err):
        return str(err)
    if isinstance(err, UnicodeDecodeError):
        return f"cannot decode text as {err.encoding} ({err.reason} at byte {err.start})"
    if isinstance(err, ImportError):
        top = (err.name or "").partition(".")[0]
        if "pip install" not in str(err) and top in EXTRA_OF:
            return f"{PIP_NAME.get(top, top)} is not installed: pip install 'openclap[{EXTRA_OF[top]}]'"
        return str(err) if "pip install" in str(err) else f"a required package is missing ({err})"
    if isinstance(err, OSError):
        return _os_problem(err)
    if isinstance(err, KeyError) and err.args and isinstance(err.args[0], str):
        return err.args[0]  # str(KeyError) would wrap the message in quotes
    if isinstance(err, MemoryError):
        return "out of memory (try a smaller --batch-size or fewer --workers)"
    return None


def _is_bad_data(err: BaseException) -> bool:
    """The trainer's "too many unreadable clips" error (checked only if its module was loaded)."""
    datasets = sys.modules.get("openclap.data.datasets")
    return datasets is not None and isinstance(err, datasets.BadDataError)


def run_command(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand; every exception ends as one stderr line and an exit code (module docstring)."""
    debug = bool(os.environ.get(DEBUG_ENV))
    try:
        code = int(func(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return code
    except KeyboardInterrupt:
        if debug:
            raise
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)  # nothing more can reach the reader: drop the rest
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as err:
        message = _message(err)
        if debug:
            raise
        if message is None:
            print(
                f"error: internal error ({type(err).__name__}: {err}); "
                f"run again with {DEBUG_ENV}=1 to see the traceback and please report it",
                file=sys.stderr,
            )
            return 1
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USAGE
