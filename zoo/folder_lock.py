"""One writer at a time per runs folder: an exclusive ``flock`` on the folder itself.

The lock is held by the process's open file, so the kernel drops it when a writer dies, however it
dies: a killed writer never leaves a stale lock behind. It is re-entrant within a thread, so a
function that takes it may call another that takes it too.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no lock; atomic renames still keep each file whole
    fcntl = None

_held = threading.local()


@contextlib.contextmanager
def locked(folder: str | Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold ``folder``'s writer lock for the block (the folder is made if missing); yields True.

    With ``wait=False`` it does not wait for another holder: the block runs at once, yielding
    False, without the lock.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(folder)
    depth: dict[str, int] = _held.__dict__.setdefault("depth", {})
    if depth.get(key) or fcntl is None:
        depth[key] = depth.get(key, 0) + 1
        try:
            yield True
        finally:
            depth[key] -= 1
        return
    with _exclusive(os.open(folder, os.O_RDONLY), wait) as held:
        depth[key] = int(held)
        try:
            yield held
        finally:
            depth[key] = 0


@contextlib.contextmanager
def claimed(lock_file: str | Path) -> Iterator[bool]:
    """Hold an exclusive lock on ``lock_file`` (made if missing) for the block, without waiting: yields whether
    this process has it. False: another process holds it. A lock file that cannot be made (another user's, say)
    guards nothing, and the block runs as if claimed."""
    try:
        fd = os.open(lock_file, os.O_RDONLY | os.O_CREAT, 0o666) if fcntl is not None else None
    except OSError:
        fd = None
    if fd is None:
        yield True
        return
    with _exclusive(fd, wait=False) as held:
        yield held


@contextlib.contextmanager
def _exclusive(fd: int, wait: bool) -> Iterator[bool]:
    """An exclusive flock on ``fd`` for the block (yields whether it was had without waiting); closes ``fd``."""
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the file releases the lock
