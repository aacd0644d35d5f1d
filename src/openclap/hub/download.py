"""Fetching published files: Hugging Face Hub files through ``huggingface_hub`` (its cache under
``HF_HOME``, ``HF_ENDPOINT``, ``HF_HUB_OFFLINE``, revisions, resumed transfers) and plain HTTPS files
into the same cache (``.part`` file resumed with a Range request, atomic rename when complete).
Every file is checked against the size and sha256 the registry records before it is used.

Environment variables are read at call time, so a process can point ``HF_ENDPOINT`` / ``HF_HOME``
elsewhere after importing openclap.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from openclap.hub.registry import PublishedFile

CHUNK = 1 << 20
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class DownloadError(OSError):
    """A file that could not be fetched (network, offline mode, missing on the server)."""


class ChecksumError(ValueError):
    """A fetched file whose size or sha256 differs from the registry's; it has been deleted."""


def hf_home() -> Path:
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface").expanduser()


def hub_cache() -> Path:
    """``huggingface_hub``'s file cache (``HF_HUB_CACHE``, default ``$HF_HOME/hub``)."""
    return Path(os.environ.get("HF_HUB_CACHE") or hf_home() / "hub").expanduser()


def cache_root() -> Path:
    """openclap's part of the cache: converted checkpoints and plain-URL downloads
    (``OPENCLAP_CACHE``, default ``$HF_HOME/openclap``)."""
    return Path(os.environ.get("OPENCLAP_CACHE") or hf_home() / "openclap").expanduser()


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: Path, expected: PublishedFile, etag: str | None = None) -> str:
    """Size and sha256 of ``path`` against the registry (or, without a registered sha256, against a
    Hub ETag that is a sha256, i.e. an LFS file). Returns the sha256; raises ``ChecksumError``."""
    size = path.stat().st_size
    if expected.size is not None and size != expected.size:
        raise ChecksumError(f"{expected.name}: {size} bytes, the registry says {expected.size}")
    digest = sha256_file(path)
    want = expected.sha256 or (etag if etag and SHA256_HEX.fullmatch(etag) else None)
    if want is not None and digest != want:
        raise ChecksumError(f"{expected.name}: sha256 {digest} differs from the published {want}")
    return digest


def _forget_hub_file(path: Path) -> None:
    """Remove a cached Hub file: its snapshot link and the blob it points at."""
    blob = path.resolve()
    path.unlink(missing_ok=True)
    blob.unlink(missing_ok=True)


def fetch_hub_file(repo: str, revision: str, file: PublishedFile) -> Path:
    """``hf_hub_download`` of one file (cached, resumed, offline-aware), then checked. A cached copy that
    fails the check is deleted and fetched again; a fresh download that fails it is deleted and refused."""
    path = _hub_download(repo, revision, file.name, local_only=True)
    if path is not None:
        try:
            check_file(path, file, etag=path.resolve().name)
            return path
        except ChecksumError:
            _forget_hub_file(path)
    if offline():
        raise DownloadError(f"HF_HUB_OFFLINE is set and {repo}/{file.name} is not cached")
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    _probe(endpoint)
    path = _hub_download(repo, revision, file.name, local_only=False)
    assert path is not None
    try:
        check_file(path, file, etag=path.resolve().name)
    except ChecksumError:
        _forget_hub_file(path)
        raise
    return path


def _hub_download(repo: str, revision: str, filename: str, local_only: bool) -> Path | None:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(
            repo_id=repo, filename=filename, revision=revision, cache_dir=hub_cache(),
            endpoint=os.environ.get("HF_ENDPOINT") or None, local_files_only=local_only,
        ))
    except Exception as err:  # huggingface_hub raises many types (HTTP, offline, connection, lookup)
        if local_only:
            return None
        raise DownloadError(_short(err)) from None


def _probe(endpoint: str) -> None:
    """Fail fast (instead of huggingface_hub's retries over ~20 s) when the endpoint's host is unreachable."""
    parts = urllib.parse.urlsplit(endpoint)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as err:
        raise DownloadError(f"cannot reach {host}:{port} ({getattr(err, 'strerror', None) or err})") from None


def fetch_url_file(file: PublishedFile, folder: Path) -> Path:
    """Plain HTTPS download of ``file.url`` into ``folder``: resumes a ``.part`` left by an interrupted
    run (Range request), retries a dropped connection, checks size and sha256, then renames atomically."""
    assert file.url is not None
    dest = folder / file.name
    if dest.is_file():
        return dest
    if offline():
        raise DownloadError(f"HF_HUB_OFFLINE is set and {dest} is not cached")
    folder.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(4):
        try:
            _transfer(file.url, part)
            break
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as err:
            if isinstance(err, urllib.error.HTTPError) or attempt == 3:
                raise DownloadError(f"{file.url}: {_short(err)}") from None
    try:
        check_file(part, file)
    except ChecksumError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return dest


def _transfer(url: str, part: Path) -> None:
    """Append the rest of ``url`` to ``part`` (a Range request when ``part`` holds a prefix)."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the prefix is already the whole file
            return
        raise
    with response:
        start = have if have and response.status == 206 else 0  # a 200 ignores the Range: restart
        length = response.headers.get("Content-Length")
        with open(part, "ab" if start else "wb") as fh:
            while block := response.read(CHUNK):
                fh.write(block)
    if length is not None and part.stat().st_size < start + int(length):
        raise ConnectionError(f"connection closed after {part.stat().st_size - start} of {length} bytes")


def _short(err: BaseException) -> str:
    """The first line of an exception message, with its type when the message is empty."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__
