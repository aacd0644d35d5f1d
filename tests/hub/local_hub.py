"""A Hugging Face Hub stand-in on 127.0.0.1 for the download tests (the real Hub is not reachable here).

Serves ``/{repo}/resolve/{revision}/{filename}`` with the headers ``huggingface_hub`` reads (ETag =
the file's sha256 as for LFS files, X-Repo-Commit, Content-Length, Range requests answered 206) and
plain files under ``/files/NAME``. Every request is recorded; ``drop_after[path] = n`` makes the next
GET of ``path`` close the connection after ``n`` body bytes (once).
"""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class LocalHub:
    def __init__(self) -> None:
        self.files: dict[str, tuple[Path, str]] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.drop_after: dict[str, int] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add_hub_file(self, repo: str, revision: str, name: str, path: Path) -> str:
        url_path = f"/{repo}/resolve/{revision}/{name}"
        self.files[url_path] = (path, sha256_of(path))
        return url_path

    def add_url_file(self, name: str, path: Path) -> str:
        self.files[f"/files/{name}"] = (path, sha256_of(path))
        return f"{self.endpoint}/files/{name}"

    def gets(self, suffix: str = "") -> list[tuple[str, str, str | None]]:
        return [r for r in self.requests if r[0] == "GET" and r[1].endswith(suffix)]

    def __enter__(self) -> LocalHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(hub: LocalHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def _head(self, status: int, length: int, sha: str, start: int = 0, total: int = 0) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(length))
            self.send_header("ETag", f'"{sha}"')
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
            self.end_headers()

        def _lookup(self) -> tuple[Path, str] | None:
            hub.requests.append((self.command, self.path, self.headers.get("Range")))
            found = hub.files.get(self.path)
            if found is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
            return found

        def do_HEAD(self) -> None:
            found = self._lookup()
            if found is not None:
                self._head(200, found[0].stat().st_size, found[1])

        def do_GET(self) -> None:
            found = self._lookup()
            if found is None:
                return
            path, sha = found
            total = path.stat().st_size
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            start = int(match.group(1)) if match else 0
            if start:
                self._head(206, total - start, sha, start, total)
            else:
                self._head(200, total, sha)
            limit = hub.drop_after.pop(self.path, None)
            with open(path, "rb") as fh:
                fh.seek(start)
                sent = 0
                while block := fh.read(1 << 16):
                    if limit is not None and sent + len(block) > limit:
                        self.wfile.write(block[: limit - sent])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)  # cut the transfer mid-body
                        return
                    self.wfile.write(block)
                    sent += len(block)

    return Handler
