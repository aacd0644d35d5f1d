"""Stream an indexed file's bytes with HTTP range requests (RFC 9110 single byte ranges).

The file to open always comes from the index (``SoundIndex.item(id).path``), never from the request.
``bytes=A-B``, ``bytes=A-`` and ``bytes=-N`` give 206 with ``Content-Range``; an unsatisfiable,
malformed or multi-part range gives 416 with ``Content-Range: bytes */SIZE`` (browsers send one range).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from starlette.responses import StreamingResponse

from openclap.serve.errors import ApiError

CHUNK_BYTES = 64 * 1024
MEDIA_TYPES = {
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".aiff": "audio/aiff",
    ".aif": "audio/aiff",
    ".au": "audio/basic",
    ".caf": "audio/x-caf",
}
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(header: str, size: int) -> tuple[int, int]:
    """``(start, stop)`` (stop exclusive) of a one-range ``Range`` header, or ``ApiError(416)``."""
    match = _RANGE.match(header)
    if match is None or not (match.group(1) or match.group(2)):
        problem = "multiple ranges are not supported" if "," in header else "malformed Range header"
        raise _unsatisfiable(f"{problem}: {header[:80]!r}", size)
    first, last = match.group(1), match.group(2)
    if not first:  # suffix range: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(f"range {header.strip()!r} selects no bytes of a {size}-byte file", size)
        return max(0, size - suffix), size
    start = int(first)
    stop = size if not last else min(int(last) + 1, size)
    if last and int(last) < start:
        raise _unsatisfiable(f"range {header.strip()!r} ends before it starts", size)
    if start >= size:
        raise _unsatisfiable(f"range {header.strip()!r} starts past the end of a {size}-byte file", size)
    return start, stop


def _unsatisfiable(message: str, size: int) -> ApiError:
    return ApiError(416, message, {"Content-Range": f"bytes */{size}"})


def file_response(path: str, range_header: str | None, item_id: int) -> StreamingResponse:
    """200 with the whole file, or 206 with the requested range (blocking: opens the file)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed by the body iterator)
        size = os.fstat(handle.fileno()).st_size
    except OSError:
        raise ApiError(404, f"item {item_id}: its file is no longer readable on the server") from None
    try:
        start, stop = (0, size) if range_header is None else parse_range(range_header, size)
    except ApiError:
        handle.close()
        raise
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(stop - start), "Cache-Control": "no-cache"}
    if range_header is not None:
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    media_type = MEDIA_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")
    return StreamingResponse(
        _read(handle, start, stop), 206 if range_header is not None else 200, headers, media_type
    )


def _read(handle: BinaryIO, start: int, stop: int) -> Iterator[bytes]:
    with handle:
        handle.seek(start)
        left = stop - start
        while left > 0:
            chunk = handle.read(min(CHUNK_BYTES, left))
            if not chunk:  # the file shrank since it was opened
                return
            left -= len(chunk)
            yield chunk
