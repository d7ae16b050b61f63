"""State stores: where snapshots, event inboxes and audit histories live.

Contract
========

A `StateStore` maps an *instance id* (any ``str``) to three independent things:

* **the snapshot**: one opaque ``bytes`` value (serialised JSON written by the runtime).
  `StateStore.save` replaces it atomically; `StateStore.load` returns it, or ``None``.
* **the event inbox**: a set of ``(event_id, bytes)`` pairs. Publishers add events, the
  runtime lists them (sorted by event id) and deletes the ones it consumed. Adding an event id
  that already exists replaces it; deleting a missing one is not an error.
* **the audit history**: an append-only list of ``bytes`` entries (JSON, one line each),
  read only by tools. A resume never reads it.

Methods are synchronous and may block. The runtime calls them through
``anyio.to_thread.run_sync`` when the class attribute ``blocking`` is true and directly on the
event loop otherwise.

Every ``str`` is a valid instance id: ``""``, ``"../x"``, ``"/abs"``, ``"a\\x00b"``, ``"CON"``,
very long strings, strings holding lone surrogates, ids differing only by case. Distinct ids
never share storage. Anything that is not a ``str`` raises `InvalidInstanceIdError`.

`DiskStateStore` layout
=======================

Everything lives directly inside one folder (``store.path``); names are built only from the
encoding below, so no id can name a path outside that folder::

    <path>/
      i_<enc>.json              snapshot of the instance whose id encodes to <enc>
      i_<enc>.inbox/            its event inbox, one file per event:
        e_<enc(event_id)>.evt       the event's bytes
      i_<enc>.history           its audit history: one "<crc32 hex> <entry>" line per entry
      h_<sha256>.json           same three things for an id whose <enc> would be too long;
      h_<sha256>.inbox/         the snapshot file then starts with the line "<enc>\\n" so
      h_<sha256>.history        that `list_instances` can recover the id
      .tmp-*.tmp                temporary files of writes in progress (or of a crash)

``<enc>`` keeps the bytes ``[a-z0-9_-]`` of the id's UTF-8 encoding (``surrogatepass``, so
lone surrogates round-trip) and writes every other byte as ``%XX`` with *uppercase* hex. The
encoding is injective even on case-insensitive file systems: a lowercase letter is always
literal and an uppercase letter is always a hex digit, so ``"a"`` -> ``a`` and ``"A"`` ->
``%41`` cannot fold together. The fixed prefixes make ``""``, ``"."``, ``".."`` and Windows
device names (``CON``, ``nul``) harmless. When ``<enc>`` exceeds `_MAX_ENCODED` characters the
name is ``h_`` plus the SHA-256 hex digest of the id's bytes. Event ids (usually made by
`new_event_id`, which uses only safe characters) are encoded the same way.

Atomicity and crash guarantees
==============================

* Snapshots and events are written to a temp file in the destination folder, flushed,
  ``fsync``-ed, ``os.replace``-d onto the final name, and then the folder itself is
  ``fsync``-ed (skipped where folders cannot be opened, e.g. Windows). A crash at any moment
  leaves the old file or the new one, never a torn one. Leftover temp files are ignored by
  every read and removed once they are older than `_STALE_TEMP_SECONDS`.
* History entries are appended with ``O_APPEND`` in one ``write``, without ``fsync`` (they
  survive a process crash; a power failure may lose the last ones). A crash
  mid-append leaves a torn line; reads skip any line whose CRC does not match, and an append
  first terminates a torn last line so it cannot swallow the next entry.
* Snapshot and inbox are separate files, so an event published from another process while a
  snapshot is being saved is never lost.
* `DiskStateStore.save_if` holds an exclusive ``flock`` on ``<stem>.lock`` while it reads,
  compares and replaces the snapshot, so compare-and-set holds across processes (POSIX).
* Folders are created on demand and never removed, so a concurrent writer never finds the
  folder it is writing into gone.
* Every ``OSError`` becomes `StoreError` naming the instance id (if any) and the path, chained.

Rejected designs
================

* *One file holding snapshot and inbox.* A publisher would have to read-modify-write the file
  a checkpoint is replacing; whichever rename lands second drops the other's change.
* *Rejecting odd ids* (slashes, dots, control characters, case collisions, long ids). Every
  rule would be a place for a caller to trip; the injective encoding accepts every id and
  makes path traversal impossible by construction rather than by validation.
* *Ids as plain file names after sanitising.* Sanitising is lossy ("a/b" and "a_b" collide);
  case-insensitive file systems fold "A" and "a" together.
"""

from __future__ import annotations

import abc
import base64
import contextlib
import errno
import hashlib
import json
import os
import pathlib
import reprlib
import secrets
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import ClassVar

try:
    import fcntl
except ImportError:  # Windows: save_if is then atomic within one process only
    fcntl = None  # type: ignore[assignment]

from durable._errors import InvalidInstanceIdError, StoreError

__all__ = [
    "StateStore",
    "InMemoryStateStore",
    "DiskStateStore",
    "new_event_id",
]

# ------------------------------------------------------------------------------------------
# Shared helpers
# ------------------------------------------------------------------------------------------

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 80
_short_repr = _repr.repr  # ids can be 10 000 characters long: keep messages readable


def _check_id(instance_id: object) -> str:
    """Return ``instance_id`` if it is a ``str``; raise `InvalidInstanceIdError` otherwise."""
    if not isinstance(instance_id, str):
        raise InvalidInstanceIdError(
            f"instance id must be a str, got {_short_repr(instance_id)} "
            f"of type {type(instance_id).__qualname__}"
        )
    return instance_id


def _check_event_id(event_id: object) -> str:
    if not isinstance(event_id, str):
        raise TypeError(
            f"event id must be a str, got {_short_repr(event_id)} "
            f"of type {type(event_id).__qualname__}"
        )
    return event_id


def _as_bytes(data: object, what: str) -> bytes:
    """An immutable copy of bytes-like ``data`` (``bytes(5)`` would silently be 5 zeros)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"{what} must be bytes, got {type(data).__qualname__}")
    return bytes(data)


def _check_history_entry(entry: object) -> bytes:
    """History entries are single lines: JSON without raw newlines."""
    data = _as_bytes(entry, "history entry")
    if b"\n" in data:
        raise ValueError("history entry must not contain a newline (use compact JSON)")
    return data


_event_id_lock = threading.Lock()
_last_event_ns = 0  # guarded by _event_id_lock; the largest timestamp handed out so far


def new_event_id() -> str:
    """A unique event id; within a process, ids sort (as strings) in the order made.

    Format ``<20-digit nanoseconds>-<12 hex digits>``. The timestamp is forced to grow by at
    least 1 ns per call so a clock that stands still or steps back keeps the order; the random
    suffix keeps ids from different processes apart.
    """
    global _last_event_ns
    with _event_id_lock:
        ns = max(time.time_ns(), _last_event_ns + 1)
        _last_event_ns = ns
    return f"{ns:020d}-{secrets.token_hex(6)}"


# ------------------------------------------------------------------------------------------
# The abstract store
# ------------------------------------------------------------------------------------------


class StateStore(abc.ABC):
    """Where snapshots, event inboxes and audit histories live.

    **Methods are synchronous and may block**; the runtime calls them through
    `anyio.to_thread.run_sync` when `blocking` is True, directly otherwise.

    Subclasses must implement `load` and `save`. The inbox and history methods have default
    implementations on top of those two: the inbox lives under the key ``"<id>\\x00inbox"``
    and the history under ``"<id>\\x00history"`` (each a JSON list). They are safe across
    threads of one process but **not across processes** (two publishers can lose an event),
    and since the derived keys are themselves valid ids, an instance whose id ends in
    ``"\\x00inbox"`` would collide. Stores used by more than one process should override all
    of them, as `InMemoryStateStore` and `DiskStateStore` do. `list_instances` has no default.
    """

    blocking: ClassVar[bool] = True

    # One lock for every default read-modify-write, shared by all instances of all subclasses
    # (a subclass need not call ``super().__init__``).
    _default_lock: ClassVar[threading.Lock] = threading.Lock()

    @abc.abstractmethod
    def load(self, instance_id: str) -> bytes | None:
        """The snapshot bytes of ``instance_id``, or ``None`` if it has none."""

    @abc.abstractmethod
    def save(self, instance_id: str, data: bytes) -> None:
        """Replace the snapshot of ``instance_id`` atomically."""

    def save_if(
        self, instance_id: str, data: bytes, expected: Callable[[bytes | None], bool]
    ) -> bool:
        """Save only if ``expected(current snapshot)`` holds; return whether it saved.

        The check and the save are one atomic step with respect to other ``save_if`` calls,
        which is what makes each checkpoint a compare-and-set. The default is atomic only
        within one process; `DiskStateStore` locks a file, so it holds across processes.
        """
        with self._default_lock:
            if not expected(self.load(instance_id)):
                return False
            self.save(instance_id, data)
            return True

    # -- event inbox (default: JSON list under a derived key) ---------------------------------

    def add_event(self, instance_id: str, event_id: str, data: bytes) -> None:
        """Add (or replace) event ``event_id`` in the inbox of ``instance_id``."""
        key = _check_id(instance_id) + "\x00inbox"
        event_id = _check_event_id(event_id)
        encoded = base64.b64encode(_as_bytes(data, "event data")).decode("ascii")
        with self._default_lock:
            inbox = self._load_json_dict(key)
            inbox[event_id] = encoded
            self.save(key, json.dumps(inbox, sort_keys=True).encode())

    def list_events(self, instance_id: str) -> list[tuple[str, bytes]]:
        """The inbox of ``instance_id`` as ``(event_id, data)`` pairs sorted by event id."""
        key = _check_id(instance_id) + "\x00inbox"
        with self._default_lock:
            inbox = self._load_json_dict(key)
        return sorted((eid, base64.b64decode(value)) for eid, value in inbox.items())

    def delete_events(self, instance_id: str, event_ids: Collection[str]) -> None:
        """Remove ``event_ids`` from the inbox of ``instance_id``; missing ids are fine."""
        key = _check_id(instance_id) + "\x00inbox"
        with self._default_lock:
            inbox = self._load_json_dict(key)
            doomed = set(event_ids)
            remaining = {eid: v for eid, v in inbox.items() if eid not in doomed}
            if remaining != inbox:
                self.save(key, json.dumps(remaining, sort_keys=True).encode())

    def _load_json_dict(self, key: str) -> dict[str, str]:
        raw = self.load(key)
        if raw is None:
            return {}
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise StoreError(f"corrupt inbox under key {_short_repr(key)}")
        return value

    # -- audit history (default: JSON list under a derived key) -------------------------------

    def append_history(self, instance_id: str, entry: bytes) -> None:
        """Append ``entry`` (JSON bytes without newlines) to the history of ``instance_id``."""
        key = _check_id(instance_id) + "\x00history"
        encoded = base64.b64encode(_check_history_entry(entry)).decode("ascii")
        with self._default_lock:
            raw = self.load(key)
            entries: list[str] = [] if raw is None else json.loads(raw)
            entries.append(encoded)
            self.save(key, json.dumps(entries).encode())

    def append_history_many(self, instance_id: str, entries: Sequence[bytes]) -> None:
        """Append several entries, in order; stores may do it in one write."""
        for entry in entries:
            self.append_history(instance_id, entry)

    def read_history(self, instance_id: str) -> list[bytes]:
        """The history entries of ``instance_id``, oldest first."""
        key = _check_id(instance_id) + "\x00history"
        with self._default_lock:
            raw = self.load(key)
        entries: list[str] = [] if raw is None else json.loads(raw)
        return [base64.b64decode(entry) for entry in entries]

    # -- the rest -----------------------------------------------------------------------------

    def list_instances(self) -> list[str]:
        """The ids that have a snapshot, sorted."""
        raise NotImplementedError(f"{type(self).__qualname__} cannot list its instances")

    def close(self) -> None:  # noqa: B027 - a no-op default, not an abstract method
        """Release resources; a no-op by default."""


# ------------------------------------------------------------------------------------------
# In memory
# ------------------------------------------------------------------------------------------


class InMemoryStateStore(StateStore):
    """A store in dicts: for tests and for runs that need not survive the process.

    It keeps bytes, never live objects, so it behaves like a real store: `save` and
    `add_event` store a copy, and what `load` returns is only what was serialised.
    """

    blocking = False  # pure Python under a short lock; never blocks the event loop

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the three dicts below
        self._snapshots: dict[str, bytes] = {}
        self._inboxes: dict[str, dict[str, bytes]] = {}
        self._histories: dict[str, list[bytes]] = {}

    def load(self, instance_id: str) -> bytes | None:
        instance_id = _check_id(instance_id)
        with self._lock:
            return self._snapshots.get(instance_id)

    def save(self, instance_id: str, data: bytes) -> None:
        instance_id = _check_id(instance_id)
        copy = _as_bytes(data, "snapshot")
        with self._lock:
            self._snapshots[instance_id] = copy

    def add_event(self, instance_id: str, event_id: str, data: bytes) -> None:
        instance_id = _check_id(instance_id)
        event_id = _check_event_id(event_id)
        copy = _as_bytes(data, "event data")
        with self._lock:
            self._inboxes.setdefault(instance_id, {})[event_id] = copy

    def list_events(self, instance_id: str) -> list[tuple[str, bytes]]:
        instance_id = _check_id(instance_id)
        with self._lock:
            return sorted(self._inboxes.get(instance_id, {}).items())

    def delete_events(self, instance_id: str, event_ids: Collection[str]) -> None:
        instance_id = _check_id(instance_id)
        with self._lock:
            inbox = self._inboxes.get(instance_id, {})
            for event_id in event_ids:
                inbox.pop(event_id, None)

    def append_history(self, instance_id: str, entry: bytes) -> None:
        instance_id = _check_id(instance_id)
        copy = _check_history_entry(entry)
        with self._lock:
            self._histories.setdefault(instance_id, []).append(copy)

    def read_history(self, instance_id: str) -> list[bytes]:
        instance_id = _check_id(instance_id)
        with self._lock:
            return list(self._histories.get(instance_id, ()))

    def list_instances(self) -> list[str]:
        with self._lock:
            return sorted(self._snapshots)


# ------------------------------------------------------------------------------------------
# On disk: file names
# ------------------------------------------------------------------------------------------

_SAFE_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_-")
# _ENCODE_TABLE[b] is the text byte b becomes in a file name.
_ENCODE_TABLE = tuple(chr(b) if b in _SAFE_BYTES else f"%{b:02X}" for b in range(256))
_MAX_ENCODED = 180  # longer encodings use the hashed name (file names are limited to 255)

_SNAPSHOT_SUFFIX = ".json"
_LOCK_SUFFIX = ".lock"  # taken by save_if while it compares and saves
_INBOX_SUFFIX = ".inbox"
_HISTORY_SUFFIX = ".history"
_EVENT_SUFFIX = ".evt"
_INSTANCE_PREFIX = "i_"
_EVENT_PREFIX = "e_"
_HASHED_PREFIX = "h_"
_TEMP_PREFIX = ".tmp-"  # never produced by the encoding: "." is always escaped
_TEMP_SUFFIX = ".tmp"
_STALE_TEMP_SECONDS = 3600.0  # a temp file this old belongs to a crashed write
_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def _utf8(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")


def _encode(key: str) -> str:
    """The injective, case-insensitively distinct, path-safe text for ``key``."""
    return "".join(map(_ENCODE_TABLE.__getitem__, _utf8(key)))


def _decode(encoded: str) -> str | None:
    """The key whose `_encode` is ``encoded``, or ``None`` if there is none."""
    try:
        key = urllib.parse.unquote_to_bytes(encoded).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None
    # unquote is lenient ("%zz", "%61", "A" pass); only the canonical form is ours.
    return key if _encode(key) == encoded else None


def _stem(key: str, prefix: str) -> str:
    """``<prefix><enc>``, or ``h_<sha256>`` when ``<enc>`` is too long for a file name."""
    encoded = _encode(key)
    if len(encoded) <= _MAX_ENCODED:
        return prefix + encoded
    return _HASHED_PREFIX + hashlib.sha256(_utf8(key)).hexdigest()


def _is_hashed(stem: str) -> bool:
    return stem.startswith(_HASHED_PREFIX)


def _key_from_stem(stem: str, prefix: str) -> str | None:
    """The key a plain (not hashed) stem names, or ``None`` if it is not our stem."""
    if not stem.startswith(prefix):
        return None
    key = _decode(stem.removeprefix(prefix))
    return key if key is not None and _stem(key, prefix) == stem else None


def _pack(key: str, stem: str, data: bytes) -> bytes:
    """File contents: hashed names carry the key as a first line, since the name cannot."""
    if _is_hashed(stem):
        return _encode(key).encode("ascii") + b"\n" + data
    return data


def _unpack(stem: str, prefix: str, raw: bytes) -> tuple[str, bytes] | None:
    """``(key, data)`` of file ``<stem>.*`` written by `_pack`; ``None`` if not ours.

    The key comes from the name for plain stems and from the header line for hashed ones;
    a header whose hash is not the file name (corruption) makes the file not ours.
    """
    if not _is_hashed(stem):
        key = _key_from_stem(stem, prefix)
        return None if key is None else (key, raw)
    header, newline, data = raw.partition(b"\n")
    key = _decode(header.decode("ascii", "replace")) if newline else None
    if key is None or _stem(key, prefix) != stem:
        return None
    return key, data


# ------------------------------------------------------------------------------------------
# On disk: durable file operations (raise OSError; callers turn it into StoreError)
# ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: pathlib.Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the duration."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _fsync_dir(folder: pathlib.Path) -> None:
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


def _write_atomic(folder: pathlib.Path, name: str, data: bytes) -> None:
    """Replace ``folder/name`` by ``data``: readers see the old or the new file, never torn."""
    fd, temp = tempfile.mkstemp(dir=folder, prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX)
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
    _fsync_dir(folder)


def _read_or_none(path: pathlib.Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _ensure_dir(folder: pathlib.Path) -> None:
    """Create ``folder`` (its parent exists) and make its creation durable."""
    try:
        os.mkdir(folder)
    except FileExistsError:
        return  # a file in its place makes the write into it fail with NotADirectoryError
    _fsync_dir(folder.parent)


def _is_temp(name: str) -> bool:
    return name.startswith(_TEMP_PREFIX) and name.endswith(_TEMP_SUFFIX)


def _remove_stale_temps(folder: pathlib.Path) -> None:
    """Best effort: delete temp files of crashed writes (young ones may be in progress)."""
    cutoff = time.time() - _STALE_TEMP_SECONDS
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if _is_temp(entry.name):
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)


def _history_line(entry: bytes) -> bytes:
    return b"%08x %s\n" % (zlib.crc32(entry), entry)


def _parse_history_line(line: bytes) -> bytes | None:
    """The entry of a complete line, or ``None`` for a torn or corrupt one."""
    checksum, space, entry = line.partition(b" ")
    if not space or len(checksum) != 8 or checksum != b"%08x" % zlib.crc32(entry):
        return None
    return entry


def _ends_torn(fd: int) -> bool:
    """Whether the file ends in a partial line (a crash mid-append)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return False
    os.lseek(fd, size - 1, os.SEEK_SET)  # O_APPEND writes still go to the end
    return os.read(fd, 1) != b"\n"


def _append_line(path: pathlib.Path, line: bytes) -> None:
    """Append ``line`` with one ``O_APPEND`` write, after terminating a torn last line.

    Two appenders that both see the torn line both add a newline: the extra empty line is
    skipped by reads like any corrupt line.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | _O_BINARY, 0o666)
    try:
        size = os.fstat(fd).st_size
        if _ends_torn(fd):
            line = b"\n" + line  # the torn fragment becomes a corrupt line that reads skip
        view = memoryview(line)
        while view:  # local files take it in one write; the loop only guards short writes
            view = view[os.write(fd, view) :]
        # No fsync: the audit history is written at every checkpoint and must not double its
        # cost. Once written it survives a crash of the process (it is in the page cache);
        # a power failure can lose its last entries, never the snapshot.
    finally:
        os.close(fd)
    if size == 0:
        _fsync_dir(path.parent)  # the file may be new: make its name durable too


# ------------------------------------------------------------------------------------------
# On disk: the store
# ------------------------------------------------------------------------------------------


class DiskStateStore(StateStore):
    """A store in one folder of the local file system; safe across threads and processes.

    Layout inside `path` (``<enc>``: the id's UTF-8 bytes with ``[a-z0-9_-]`` kept and every
    other byte written ``%XX``, uppercase hex; ids whose ``<enc>`` is longer than 180
    characters use ``h_<sha256 hex of the id's bytes>`` in place of ``i_<enc>``)::

        i_<enc>.json             the snapshot; for h_ names its first line is "<enc>\\n"
        i_<enc>.inbox/           the inbox: one e_<enc(event id)>.evt file per event
        i_<enc>.history          the audit history: one "<crc32 hex> <entry>" line per entry
        .tmp-*.tmp               temp files of writes in progress; ignored, swept when stale

    Snapshots and events are written to a temp file, fsync-ed, renamed over the final name
    and the folder fsync-ed, so a crash leaves the old or the new file, never a torn one.
    History lines are appended with O_APPEND and fsync-ed; torn lines are skipped on read.
    No id can produce a path outside `path`. File-system failures raise `StoreError` naming
    the instance id and the path. See the module docstring for the reasoning.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open the store in folder ``path``, creating it (and its parents) if missing."""
        self._path = pathlib.Path(path).absolute()
        try:
            self._path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the store folder {self._path}: {e}") from e
        _remove_stale_temps(self._path)

    @property
    def path(self) -> pathlib.Path:
        """The folder holding the store (absolute)."""
        return self._path

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._path)!r})"

    # -- paths --------------------------------------------------------------------------------

    def _stem(self, instance_id: str) -> str:
        return _stem(_check_id(instance_id), _INSTANCE_PREFIX)

    @contextlib.contextmanager
    def _errors(self, action: str, path: pathlib.Path) -> Iterator[None]:
        """Turn an OSError into a StoreError saying what failed and on which path."""
        try:
            yield
        except StoreError:
            raise
        except OSError as e:
            raise StoreError(f"cannot {action} at {path}: {e}") from e

    # -- snapshots ----------------------------------------------------------------------------

    def load(self, instance_id: str) -> bytes | None:
        stem = self._stem(instance_id)
        path = self._path / (stem + _SNAPSHOT_SUFFIX)
        with self._errors(f"load instance {_short_repr(instance_id)}", path):
            raw = _read_or_none(path)
        if raw is None:
            return None
        unpacked = _unpack(stem, _INSTANCE_PREFIX, raw)
        if unpacked is None or unpacked[0] != instance_id:
            raise StoreError(f"corrupt header in snapshot of {_short_repr(instance_id)} at {path}")
        return unpacked[1]

    def save(self, instance_id: str, data: bytes) -> None:
        stem = self._stem(instance_id)
        contents = _pack(instance_id, stem, _as_bytes(data, "snapshot"))
        name = stem + _SNAPSHOT_SUFFIX
        with self._errors(f"save instance {_short_repr(instance_id)}", self._path / name):
            _write_atomic(self._path, name, contents)

    def save_if(
        self, instance_id: str, data: bytes, expected: Callable[[bytes | None], bool]
    ) -> bool:
        # An exclusive lock on a per-instance lock file serialises savers across processes;
        # readers need no lock (a snapshot is replaced by an atomic rename).
        lock = self._path / (self._stem(instance_id) + _LOCK_SUFFIX)
        with self._errors(f"lock instance {_short_repr(instance_id)}", lock), _locked(lock):
            if not expected(self.load(instance_id)):
                return False
            self.save(instance_id, data)
            return True

    def list_instances(self) -> list[str]:
        with self._errors("list the instances", self._path), os.scandir(self._path) as entries:
            names = [e.name for e in entries if e.name.endswith(_SNAPSHOT_SUFFIX) and e.is_file()]
        ids = (self._id_of_snapshot(name.removesuffix(_SNAPSHOT_SUFFIX)) for name in names)
        return sorted(i for i in ids if i is not None)

    def _id_of_snapshot(self, stem: str) -> str | None:
        """The id a snapshot file belongs to; ``None`` for files that are not ours."""
        if not _is_hashed(stem):
            return _key_from_stem(stem, _INSTANCE_PREFIX)
        path = self._path / (stem + _SNAPSHOT_SUFFIX)
        with self._errors("list the instances", path):
            try:
                with open(path, "rb") as file:
                    header = file.readline()
            except FileNotFoundError:
                return None
        unpacked = _unpack(stem, _INSTANCE_PREFIX, header)
        return None if unpacked is None else unpacked[0]

    # -- inbox --------------------------------------------------------------------------------

    def _inbox(self, instance_id: str) -> pathlib.Path:
        return self._path / (self._stem(instance_id) + _INBOX_SUFFIX)

    def add_event(self, instance_id: str, event_id: str, data: bytes) -> None:
        inbox = self._inbox(instance_id)
        stem = _stem(_check_event_id(event_id), _EVENT_PREFIX)
        contents = _pack(event_id, stem, _as_bytes(data, "event data"))
        with self._errors(f"add an event to instance {_short_repr(instance_id)}", inbox):
            _ensure_dir(inbox)
            _write_atomic(inbox, stem + _EVENT_SUFFIX, contents)

    def list_events(self, instance_id: str) -> list[tuple[str, bytes]]:
        inbox = self._inbox(instance_id)
        with self._errors(f"list the events of instance {_short_repr(instance_id)}", inbox):
            try:
                with os.scandir(inbox) as entries:
                    names = [entry.name for entry in entries]
            except FileNotFoundError:
                return []  # no event was ever added
            events = [_read_event(inbox / n) for n in names if n.endswith(_EVENT_SUFFIX)]
        if any(map(_is_temp, names)):
            _remove_stale_temps(inbox)
        return sorted(event for event in events if event is not None)

    def delete_events(self, instance_id: str, event_ids: Collection[str]) -> None:
        inbox = self._inbox(instance_id)
        names = [_stem(_check_event_id(e), _EVENT_PREFIX) + _EVENT_SUFFIX for e in event_ids]
        # No folder fsync: the runtime deletes only events that a saved snapshot names as
        # consumed, and deletes them again when it loads that snapshot, so a deletion lost
        # in a power failure is redone rather than an event delivered twice.
        with self._errors(f"delete events of instance {_short_repr(instance_id)}", inbox):
            for name in names:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(inbox / name)

    # -- history ------------------------------------------------------------------------------

    def _history(self, instance_id: str) -> pathlib.Path:
        return self._path / (self._stem(instance_id) + _HISTORY_SUFFIX)

    def append_history(self, instance_id: str, entry: bytes) -> None:
        self.append_history_many(instance_id, [entry])

    def append_history_many(self, instance_id: str, entries: Sequence[bytes]) -> None:
        path = self._history(instance_id)
        lines = b"".join(_history_line(_check_history_entry(entry)) for entry in entries)
        if not lines:
            return
        with self._errors(f"append to the history of instance {_short_repr(instance_id)}", path):
            _append_line(path, lines)

    def read_history(self, instance_id: str) -> list[bytes]:
        path = self._history(instance_id)
        with self._errors(f"read the history of instance {_short_repr(instance_id)}", path):
            raw = _read_or_none(path)
        if raw is None:
            return []
        # The piece after the last newline is empty or a torn append: never an entry.
        lines = raw.split(b"\n")[:-1]
        entries = (_parse_history_line(line) for line in lines)
        return [entry for entry in entries if entry is not None]


def _read_event(path: pathlib.Path) -> tuple[str, bytes] | None:
    """``(event_id, data)`` of an event file; ``None`` if it vanished or is not ours."""
    raw = _read_or_none(path)
    if raw is None:
        return None  # deleted by a concurrent consumer since the folder was listed
    return _unpack(path.name.removesuffix(_EVENT_SUFFIX), _EVENT_PREFIX, raw)
