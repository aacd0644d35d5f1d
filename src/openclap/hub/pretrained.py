"""Published weights by name: fetch, verify, convert once, cache, and check the cache on every load.

``resolve_checkpoint(entry)`` returns an openclap checkpoint folder for a registry entry: the converted
safetensors kept under ``cache_root()/converted/`` when present and intact, otherwise (unless told not
to download) ``pull`` fetches the published files, checks them, converts them with ``openclap.convert``
and writes the folder plus a marker file recording its sha256. A registered name without weights is an
error naming ``openclap pull NAME``: openclap never hands out random weights in place of published ones.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from openclap.checkpoint import CONFIG_NAME, WEIGHTS_NAME, CheckpointError, atomic_write, read_metadata
from openclap.hub.download import (
    ChecksumError,
    DownloadError,
    cache_root,
    fetch_hub_file,
    fetch_url_file,
    sha256_file,
)
from openclap.hub.registry import PretrainedEntry

MARKER = "openclap-pretrained.json"


class WeightsNotFoundError(CheckpointError):
    """A published model whose weights are not on this machine and could not be fetched."""


def converted_dir(entry: PretrainedEntry) -> Path:
    """Where the converted checkpoint of ``entry`` lives (one folder per name and published file)."""
    weights = entry.weights_file
    key = (weights.sha256 or entry.revision)[:16]
    return cache_root() / "converted" / re.sub(r"[^A-Za-z0-9._-]+", "--", entry.name) / key


def is_on_machine(entry: PretrainedEntry) -> bool:
    """True when a converted checkpoint of ``entry`` is cached (its integrity is checked on load)."""
    return (converted_dir(entry) / MARKER).is_file()


def verify_cached(entry: PretrainedEntry, folder: Path) -> None:
    """The cached ``model.safetensors`` has the size and sha256 recorded when it was written."""
    record = json.loads((folder / MARKER).read_text())
    weights = folder / WEIGHTS_NAME
    problem = None
    if not weights.is_file():
        problem = "is missing"
    elif weights.stat().st_size != record["size"] or sha256_file(weights) != record["sha256"]:
        problem = "is corrupt (its size or sha256 differs from the one recorded when it was converted)"
    if problem:
        raise CheckpointError(f"cached weights of {entry.name!r} at {weights} {problem}; "
                              f"run `openclap pull --force {entry.name}` to fetch them again")


def resolve_checkpoint(entry: PretrainedEntry, download: bool = True) -> Path:
    """The verified openclap checkpoint folder of ``entry``, fetched and converted on first use."""
    folder = converted_dir(entry)
    if (folder / MARKER).is_file():
        verify_cached(entry, folder)
        return folder
    if not download:
        raise WeightsNotFoundError(f"{entry.name}: published weights are not on this machine; run "
                                   f"`openclap pull {entry.name}` (or pass pretrained=False / --untrained)")
    return pull(entry)


def pull(entry: PretrainedEntry | str, force: bool = False) -> Path:
    """Fetch, check and convert a published model (an entry or its name, see ``list_pretrained()``);
    returns the openclap checkpoint folder. ``force`` fetches and converts again."""
    if isinstance(entry, str):
        entry = _entry_named(entry)
    folder = converted_dir(entry)
    if force:
        shutil.rmtree(folder, ignore_errors=True)
    elif (folder / MARKER).is_file():
        verify_cached(entry, folder)
        return folder
    try:
        source = _fetch_files(entry, force)
        tokenizer = _fetch_tokenizer(entry)
    except DownloadError as err:
        raise WeightsNotFoundError(_missing_message(entry, str(err))) from None
    except ChecksumError as err:
        raise CheckpointError(f"{entry.name}: download refused and deleted: {err}") from None
    _convert(entry, source, tokenizer, folder)
    return folder


def _entry_named(name: str) -> PretrainedEntry:
    from openclap.hub.registry import find_entry, list_pretrained

    found = find_entry(name)
    if found is None:
        raise ValueError(f"{name!r} is not a published model; published: {', '.join(list_pretrained())}")
    return found


def _missing_message(entry: PretrainedEntry, reason: str) -> str:
    return (f"{entry.name}: published weights are not on this machine and could not be downloaded "
            f"({reason}); run `openclap pull {entry.name}` where {entry.location} is reachable, or give a "
            f"local copy of {entry.weights_file.name} as checkpoint= / --checkpoint "
            "(pretrained=False / --untrained builds the model untrained)")


def _fetch_files(entry: PretrainedEntry, force: bool) -> Path:
    """Every file of ``entry``; returns the weights file (or, for a Hugging Face folder, its folder)."""
    paths = []
    for file in entry.files:
        if file.url is not None:
            folder = cache_root() / "downloads" / re.sub(r"[^A-Za-z0-9._-]+", "--", entry.name)
            if force:
                (folder / file.name).unlink(missing_ok=True)
            paths.append(fetch_url_file(file, folder))
        else:
            assert entry.repo is not None
            try:
                paths.append(fetch_hub_file(entry.repo, entry.revision, file))
            except DownloadError:
                if not file.optional:
                    raise
    if entry.family == "hf":
        return paths[0].parent
    return paths[[f.name for f in entry.files].index(entry.weights_file.name)]


def _fetch_tokenizer(entry: PretrainedEntry) -> str | None:
    from openclap.hub.registry import PublishedFile

    tok = entry.tokenizer
    if tok.repo is None:
        return None  # bundled with openclap, or inside the model's own (Hugging Face) folder
    paths = [fetch_hub_file(tok.repo, tok.revision, PublishedFile(name)) for name in tok.files]
    return str(paths[0].parent)


def _convert(entry: PretrainedEntry, source: Path, tokenizer: str | None, folder: Path) -> None:
    """Write ``folder/model.safetensors`` + ``config.json`` once, then the marker (written last, so a
    folder without it is an unfinished conversion and is redone)."""
    if entry.family == "openclap":
        meta = read_metadata(source)
        atomic_write(folder / WEIGHTS_NAME, lambda p: shutil.copyfile(source, p))
        atomic_write(folder / CONFIG_NAME, lambda p: p.write_text(json.dumps(meta, indent=2) + "\n"))
    else:
        from openclap.convert import convert

        family = None if entry.family == "hf" else entry.family
        convert(source, folder, family=family, tokenizer=tokenizer)
    weights = folder / WEIGHTS_NAME
    record = {"name": entry.name, "source": entry.location, "file": entry.weights_file.name,
              "size": weights.stat().st_size, "sha256": sha256_file(weights)}
    atomic_write(folder / MARKER, lambda p: p.write_text(json.dumps(record, indent=2) + "\n"))
