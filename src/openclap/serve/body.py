"""An ASGI guard on request bodies: a byte limit and a time limit, answered before a route sees them.

A declared ``Content-Length`` over the limit is refused without reading; a chunked body is counted as
it streams. A body that does not arrive within ``body_timeout_seconds`` (a client that sends headers
and stalls, or trickles) gets 408. The rest of a refused body is read and discarded, up to a bound,
before answering: a server that closes a socket with unread data makes the kernel reset it, and the
client would see a dropped connection instead of the 413.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openclap.serve.errors import ApiError, error_response

DRAIN_FACTOR = 4  # a refused body is drained up to this many times the limit (then the socket is closed)


class BodyGuard:
    """Wrap an ASGI app; ``max_bytes`` and ``timeout_seconds`` apply to every HTTP request body."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = time.monotonic() + self.timeout_seconds
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _drain(receive, DRAIN_FACTOR * self.max_bytes, deadline)
            await error_response(413, self._too_large())(scope, receive, send)
            return
        received = 0

        async def guarded_receive() -> Message:
            nonlocal received
            message = await _receive_before(receive, deadline, self.timeout_seconds)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if message.get("more_body", False):
                        await _drain(receive, DRAIN_FACTOR * self.max_bytes, deadline)
                    raise ApiError(413, self._too_large())
            return message

        await self.app(scope, guarded_receive, send)

    def _too_large(self) -> str:
        return f"request body is larger than the server's limit of {_megabytes(self.max_bytes)}"


async def _receive_before(receive: Receive, deadline: float, timeout_seconds: float) -> Message:
    try:
        return await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
    except asyncio.TimeoutError:
        raise ApiError(
            408, f"request body did not arrive within {timeout_seconds:g} s", {"Connection": "close"}
        ) from None


async def _drain(receive: Receive, max_bytes: int, deadline: float) -> None:
    """Read and drop the rest of a body (at most ``max_bytes``, until ``deadline``)."""
    drained = 0
    while drained <= max_bytes:
        try:
            message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            return
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _megabytes(num_bytes: int) -> str:
    return f"{num_bytes / 1e6:g} MB" if num_bytes >= 100_000 else f"{num_bytes} bytes"
