"""The index's writer lock: one process builds or updates an index at a time.

``flock`` on ``INDEX/.lock``: the kernel drops the lock when its holder exits or is killed, so a lock
file left behind by a crashed writer is never stale; the file only holds the last writer's pid and host
for the message a refused writer sees. (flock is advisory and per host: two machines writing one index
on a network file system are not kept apart; only rank 0 of a torchrun job writes the store.)
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from types import TracebackType

from openclap.index.records import SoundIndexError

LOCK_NAME = ".lock"


class IndexLockedError(SoundIndexError):
    """Another process holds the index's writer lock."""


class WriterLock:
    """Context manager holding ``root/.lock`` exclusively; raises ``IndexLockedError`` when taken."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> WriterLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
            os.close(fd)
            raise IndexLockedError(
                f"{self.path.parent}: another process is writing this index ({holder}); "
                "wait for it to finish, then run the command again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
