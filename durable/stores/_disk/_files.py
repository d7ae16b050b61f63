"""File primitives of the disk store: locking, fsync, atomic writes, reads.

Everything here raises `OSError`; the store turns it into `StoreError` naming the instance
and the path.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pathlib
import tempfile
import threading
import time
from collections.abc import Iterator

try:
    import fcntl
except ImportError:  # Windows: writers then exclude each other within one process only
    fcntl = None  # type: ignore[assignment]

from ._journal import history_line, overlap, parse_history
from ._names import TEMP_PREFIX, TEMP_SUFFIX, is_temp

O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
RWF_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)  # Linux: fail, don't wait on a disk
_STALE_TEMP_SECONDS = 3600.0  # a temp file this old belongs to a crashed write

_thread_locks = [threading.Lock() for _ in range(64)]  # used only where flock is missing


@contextlib.contextmanager
def locked(path: pathlib.Path) -> Iterator[int]:
    """Hold an exclusive lock on `path` (created if missing) for the duration; yields its
    open descriptor (the file holds the instance's lease, see `read_lease`).

    ``flock`` excludes other processes and, since each call opens its own descriptor, other
    threads too. Without ``fcntl`` (Windows) the lock holds only between threads.

    `DiskStateStore.delete` unlinks the lock file while holding it, so a waiter may be granted
    the lock of a file no longer in the folder, while a newcomer creates and locks a new one:
    each holder checks, once locked, that ``path`` still names the file it locked, and starts
    over if not (one ``stat`` per lock).
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | O_BINARY, 0o644)
        try:
            if fcntl is None:
                with _thread_locks[hash(path) % len(_thread_locks)]:
                    yield fd
                return
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, path):
                yield fd
                return
        finally:
            os.close(fd)  # closing releases the lock


def _same_file(fd: int, path: pathlib.Path) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_ino, held.st_dev) == (named.st_ino, named.st_dev)


def read_lease(fd: int) -> tuple[str, int] | None:
    """The lease in a lock file: ``(owner, until in microseconds)``, or None.

    Leases are advisory and never fsync-ed (a lease lost with the machine belonged to a worker
    that died with it), so anything unreadable counts as no lease.
    """
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 1 << 16)
    if not raw:
        return None
    try:
        owner, until = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if not isinstance(owner, str) or not isinstance(until, int):
        return None
    return owner, until


def write_lease(fd: int, lease: tuple[str, int] | None) -> None:
    """Replace the lease in a lock file (None: no lease); not fsync-ed (see `read_lease`)."""
    os.ftruncate(fd, 0)
    if lease is not None:
        data = json.dumps(list(lease), ensure_ascii=False).encode("utf-8", "surrogatepass")
        os.lseek(fd, 0, os.SEEK_SET)
        write_all(fd, data)


def fsync_dir(folder: pathlib.Path) -> None:
    """Make renames and creations inside ``folder`` durable, where the platform allows."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows cannot open a folder; its renames are durable on their own
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def write_atomic(folder: pathlib.Path, name: str, data: bytes) -> None:
    """Create or replace ``folder/name`` holding ``data``: readers see no file or the old one,
    or the whole new one, never a part (temp file, fsync, rename, fsync the folder)."""
    fd, temp = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
    try:
        with open(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, folder / name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_dir(folder)


def unlink_if_any(path: pathlib.Path) -> bool:
    """Remove ``path``; returns whether it was there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def read_or_none(path: pathlib.Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def read_fd(fd: int, start: int, stop: int) -> bytes:
    """Bytes ``start:stop`` of the file (fewer if it is shorter)."""
    chunks = []
    pos = start
    while pos < stop:
        chunk = os.pread(fd, stop - pos, pos)
        if not chunk:
            break
        chunks.append(chunk)
        pos += len(chunk)
    return b"".join(chunks)


def pread_nowait(fd: int, size: int, offset: int) -> bytes | None:
    """Bytes at ``offset`` if they are in the page cache; ``None`` if reading would wait."""
    assert RWF_NOWAIT is not None
    buffer = bytearray(size)
    try:
        got = os.preadv(fd, [buffer], offset, RWF_NOWAIT)
    except OSError:
        return None
    return bytes(buffer[:got])


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # local files take it in one write; the loop only guards short writes
        view = view[os.write(fd, view) :]


def remove_stale_temps(folder: pathlib.Path) -> None:
    """Best effort: delete temp files of crashed writes (young ones may be in progress)."""
    cutoff = time.time() - _STALE_TEMP_SECONDS
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if is_temp(entry.name):
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)


def append_line(path: pathlib.Path, line: bytes) -> None:
    """Append ``line`` with one ``O_APPEND`` write, after terminating a torn last line.

    Two appenders that both see the torn line both add a newline: the extra empty line is
    skipped by reads like any corrupt line.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | O_BINARY, 0o666)
    try:
        size = os.fstat(fd).st_size
        if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # the torn fragment becomes a corrupt line that reads skip
        write_all(fd, line)
        # No fsync: the audit history is written at every checkpoint and must not double its
        # cost. Once written it survives a crash of the process (it is in the page cache);
        # a power failure can lose its last entries, never the snapshot.
    finally:
        os.close(fd)
    if size == 0:
        fsync_dir(path.parent)  # the file may be new: make its name durable too


def flush_history(path: pathlib.Path, entries: list[bytes]) -> None:
    """Append `entries` to the history file and fsync it, less any already at its end."""
    lines = [history_line(entry) for entry in entries]
    with open(path, "a+b") as file:
        size = file.seek(0, os.SEEK_END)
        start = max(0, size - sum(map(len, lines)) - 1)
        file.seek(start)
        tail = file.read()
        whole = tail.partition(b"\n")[2] if start else tail  # the first piece may be cut
        skip = overlap(parse_history(whole), entries)
        torn = b"\n" if tail and not tail.endswith(b"\n") else b""
        if skip < len(lines):
            file.write(torn + b"".join(lines[skip:]))
        file.flush()
        os.fsync(file.fileno())
