"""uvicorn around the app: loopback by default, bounded connections, and a header timeout.

uvicorn times out idle keep-alive connections but not a new connection that never completes its request
headers; ``HeaderTimeoutH11`` closes such a connection after ``header_timeout_seconds`` so that slow or
silent clients cannot hold sockets forever. (A stalled *body* is ``BodyGuard``'s 408.)
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_CONNECTIONS = 512  # open connections + running requests; more get uvicorn's plain 503


def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, closing connections whose first request's headers take over ``seconds``."""

    class HeaderTimeoutH11(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._header_timer = self.loop.call_later(seconds, self._header_timeout)

        def _header_timeout(self) -> None:
            if self.cycle is None and not self.transport.is_closing():
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._header_timer.cancel()
            super().connection_lost(exc)

    return HeaderTimeoutH11


def make_server(
    app: Any, host: str, port: int, header_timeout_seconds: float, log_level: str
) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=header_timeout_protocol(header_timeout_seconds),
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=5,
        log_level=log_level,
    )
    return uvicorn.Server(config)


@contextmanager
def serve_in_thread(
    app: Any, header_timeout_seconds: float = 15.0, log_level: str = "warning"
) -> Iterator[str]:
    """Run ``app`` on a free loopback port in a background thread; yields its base URL (tests, benchmarks)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = make_server(app, "127.0.0.1", port, header_timeout_seconds, log_level)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the server thread stopped before it started; see its log")
            thread.join(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
