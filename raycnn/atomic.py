"""Files that appear whole: written aside under a hidden name unique to this host, process and write,
then renamed over the target, so a reader never sees half of one (an interrupted write leaves the
previous file, and no partial one), and writers on a shared file system (several trials, several nodes)
never share a temporary name. The one helper for every file raycnn writes in place."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def aside(target: str | Path) -> Path:
    """A hidden sibling name for writing `target` (.NAME.HOST-PID-RANDOM.tmp; readers skip dot files)."""
    target = Path(target)
    return target.parent / f".{target.name}.{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"


@contextmanager
def written_whole(target: str | Path, durable: bool = False) -> Iterator[Path]:
    """`with written_whole(path) as partial:` write the file `partial`; it becomes `path` when the block
    ends (replacing any file there), or is removed if the block raises. `durable`: the file is fsync'd
    before the rename and the folder after it, so the new file survives a power cut."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = aside(target)
    try:
        yield partial
        if durable:
            _fsync(partial, os.O_RDONLY)
        os.replace(partial, target)
    except BaseException:
        remove(partial)
        raise
    if durable:
        _fsync(target.parent, os.O_RDONLY)


@contextmanager
def one_at_a_time(lock: str | Path) -> Iterator[None]:
    """`with one_at_a_time(folder / ".name.lock"):` one process of this machine in the block at a time (an
    exclusive flock on the file); where the lock cannot be taken (no fcntl, a read-only folder), no lock."""
    try:
        import fcntl

        Path(lock).parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock, "a")
    except (ImportError, OSError):
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def remove(path: Path) -> None:
    """A partial file or folder, gone (nothing if it never was)."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync(path: Path, flags: int) -> None:
    handle = os.open(path, flags)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
