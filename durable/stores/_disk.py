"""The disk store: one append-only journal per instance in one folder.

`DiskStateStore` layout
=======================

Everything lives directly inside one folder (``store.path``); names are built only from the
encoding below, so no id can name a path outside that folder::

    <path>/
      i_<enc>.log               the journal of the instance whose id encodes to <enc>:
                                its snapshots and its event inbox, appended to
      i_<enc>.lock              locked by every writer of that journal
      i_<enc>.history           its audit history: one "<crc32 hex> <entry>" line per entry
      h_<sha256>.log|lock|history   the same for an id whose <enc> would be too long
      .tmp-*.tmp                temporary files of journal rewrites in progress (or of a crash)

``<enc>`` keeps the bytes ``[a-z0-9_-]`` of the id's UTF-8 encoding (``surrogatepass``, so
lone surrogates round-trip) and writes every other byte as ``%XX`` with *uppercase* hex. The
encoding is injective even on case-insensitive file systems: a lowercase letter is always
literal and an uppercase letter is always a hex digit, so ``"a"`` -> ``a`` and ``"A"`` ->
``%41`` cannot fold together. The fixed prefixes make ``""``, ``"."``, ``".."`` and Windows
device names (``CON``, ``nul``) harmless. When ``<enc>`` exceeds `_MAX_ENCODED` characters the
name is ``h_`` plus the SHA-256 hex digest of the id's bytes. Event ids are encoded the same
way inside the journal.

The journal is a sequence of records, each framed by the same 22-byte mark before and after
its payload (kind, length, CRC-32). The first record is a *head* naming the instance and
holding a random nonce new to that file. Then, in the order written: ``E`` an event was
published, with its audit entries; ``S`` a snapshot was saved, with the ids of the events it
consumed and its audit entries; ``D`` events were deleted. The state is the last ``S`` and
the events not deleted since; the audit history is the history file followed by the entries
still in the journal.

Atomicity and crash guarantees
==============================

* Every writer holds an exclusive ``flock`` on ``<stem>.lock`` (between processes and between
  threads), first cuts off a torn tail, then appends. A save appends one ``S`` record and
  fsyncs; publishing appends one ``E`` and fsyncs; so an event is durable when `add_event`
  returns, and a checkpoint's snapshot, consumption and audit entries land together or not
  at all.
* A crash mid-append leaves a torn tail: a partial record, or a last record failing its CRC.
  Readers ignore it (that append never returned) and the next writer cuts it off. Damage a
  crash cannot produce (a bad record before whole ones, a head naming another instance) raises
  `StoreError` and is left for a person to look at.
* A save *rewrites* the journal instead of appending once superseded records would outweigh
  the live ones and 32 KiB. First the journal's audit entries are appended to the history
  file, which is fsync-ed; then the live records (and the new save with its entries) go to a
  temp file under a new head, which is fsync-ed, renamed over the journal, and the folder
  fsync-ed. Readers see the old file or the new one. A crash between the two steps leaves
  the entries in both; readers and the next rewrite recognise the copy at the end of the
  history file and skip it.
* Readers take no lock. Each store object caches parsed journals and, on the next read,
  parses only the bytes appended since; an entry is used only while the file still starts
  with the same head, so a rewrite (even one reusing the inode) is always noticed.
* Entries given to `StateStore.append_history` directly are appended to the history file
  with ``O_APPEND`` in one ``write``, without ``fsync`` (they survive a process crash; a power
  failure may lose the last ones). A crash mid-append leaves a torn line; reads skip any line
  whose CRC does not match, and an append first terminates a torn last line so it cannot
  swallow the next entry.
* Every ``OSError`` becomes `StoreError` naming the instance id (if any) and the path, chained.

Rejected designs
================

* *A snapshot file replaced by rename, and an inbox folder with one file per event* (this
  store's first layout). Each save and each publish cost two fsyncs (the file and its folder)
  and a resume listed a folder; a pause-publish-resume cycle cost four fsyncs against the
  journal's two, and consumption needed its own deletions.
* *A publisher rewriting a file that holds snapshot and inbox.* Whichever rename lands second
  drops the other's change; appends under a lock cannot.
* *Rejecting odd ids* (slashes, dots, control characters, case collisions, long ids). Every
  rule would be a place for a caller to trip; the injective encoding accepts every id and
  makes path traversal impossible by construction rather than by validation.
* *Ids as plain file names after sanitising.* Sanitising is lossy ("a/b" and "a_b" collide);
  case-insensitive file systems fold "A" and "a" together.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import pathlib
import secrets
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Sequence

try:
    import fcntl
except ImportError:  # Windows: save_if is then atomic within one process only
    fcntl = None  # type: ignore[assignment]

from ..errors import StoreError
from ._contract import (
    StateStore,
    _as_bytes,
    _check_event_id,
    _check_history_entry,
    _check_id,
    _short_repr,
)

__all__ = ["DiskStateStore"]

# ------------------------------------------------------------------------------------------
# On disk: file names
# ------------------------------------------------------------------------------------------

_SAFE_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_-")
# _ENCODE_TABLE[b] is the text byte b becomes in a file name.
_ENCODE_TABLE = tuple(chr(b) if b in _SAFE_BYTES else f"%{b:02X}" for b in range(256))
_MAX_ENCODED = 180  # longer encodings use the hashed name (file names are limited to 255)

_JOURNAL_SUFFIX = ".log"
_LOCK_SUFFIX = ".lock"  # held by every writer of the journal
_HISTORY_SUFFIX = ".history"
_INSTANCE_PREFIX = "i_"
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


def _stem(key: str) -> str:
    """``i_<enc>``, or ``h_<sha256>`` when ``<enc>`` is too long for a file name."""
    encoded = _encode(key)
    if len(encoded) <= _MAX_ENCODED:
        return _INSTANCE_PREFIX + encoded
    return _HASHED_PREFIX + hashlib.sha256(_utf8(key)).hexdigest()


# ------------------------------------------------------------------------------------------
# On disk: the journal format (pure functions over bytes)
# ------------------------------------------------------------------------------------------

# Every record is its payload between two copies of one 22-byte mark:
#     b"<kind> <payload length: 10 digits> <crc32 of the payload: 8 hex digits>\n"
# The copy after the payload lets a writer check in O(1) that the file ends on a whole record.
_MARK = 22
_HEAD = b"H"  # payload: b"<32 hex digits, new for every file> <enc(instance id)>"; first record
_SNAPSHOT = b"S"  # payload: b"<enc(event id)>,...\n<history><snapshot>": a save, the events
# it consumed and its audit entries
_EVENT = b"E"  # payload: b"<enc(event id)> <history><event data>"
# <history> is b"<n>\n" and n bytes of audit entries, each ending in b"\n"; the entries of a
# journal move to the history file when the journal is rewritten.
_DELETE = b"D"  # payload: b"<enc(event id)>,<enc(event id)>,...": events consumed
_KINDS = frozenset((_HEAD, _SNAPSHOT, _EVENT, _DELETE))
_HEX = frozenset(b"0123456789abcdef")
# A save rewrites the journal (instead of appending) once it would hold more superseded bytes
# than this or than its live records, whichever is larger: appends stay one fsync, and the
# file stays within about twice its live records plus this.
_COMPACT_BYTES = 32 * 1024


class _Corrupt(Exception):
    """A journal holds something no crash can produce; the message says what and where."""


def _frame(kind: bytes, payload: bytes) -> bytes:
    mark = b"%s %010d %08x\n" % (kind, len(payload), zlib.crc32(payload))
    return mark + payload + mark


def _head(instance_id: str) -> bytes:
    """A new head record: a journal file's first record, unique to that file."""
    return _frame(_HEAD, secrets.token_hex(16).encode("ascii") + b" " + _encoded(instance_id))


def _encoded(key: str) -> bytes:
    return _encode(key).encode("ascii")


def _mark_at(raw: bytes, pos: int) -> tuple[bytes, int, int] | None:
    """``(kind, length, crc)`` of a well-formed mark at ``pos``, else ``None``."""
    mark = raw[pos : pos + _MARK]
    if len(mark) != _MARK or mark[1:2] != b" " or mark[12:13] != b" " or mark[21:] != b"\n":
        return None
    kind, digits, crc = mark[:1], mark[2:12], mark[13:21]
    if kind not in _KINDS or not digits.isdigit() or not _HEX.issuperset(crc):
        return None
    return kind, int(digits), int(crc, 16)


def _record_at(raw: bytes, pos: int) -> tuple[bytes, int, int, int] | None:
    """``(kind, payload start, payload end, crc)`` of a whole record at ``pos``, else ``None``."""
    mark = _mark_at(raw, pos)
    if mark is None:
        return None
    kind, length, crc = mark
    start = pos + _MARK
    stop = start + length
    if raw[stop : stop + _MARK] != raw[pos:start]:
        return None
    return kind, start, stop, crc


def _last_record_start(tail_mark: bytes, size: int) -> int | None:
    """Where the record whose closing mark is ``tail_mark`` (the file's last 22 bytes) starts."""
    mark = _mark_at(tail_mark, 0)
    if mark is None:
        return None
    start = size - 2 * _MARK - mark[1]
    return start if start >= 0 else None


def _decode_id(encoded: bytes, what: str) -> str:
    key = _decode(encoded.decode("ascii", "replace"))
    if key is None:
        raise _Corrupt(f"a record names an invalid {what} {encoded[:80]!r}")
    return key


class _Journal:
    """A journal file parsed up to `end`: its head, snapshot and live events.

    Values are shared (a cache hands them out): never mutate one after it is built.
    """

    __slots__ = ("end", "event_sizes", "events", "head", "history", "key", "snapshot")

    def __init__(self) -> None:
        self.head = b""  # the head record's bytes: they identify this very file
        self.key: str | None = None  # the instance id the head names
        self.snapshot: bytes | None = None
        self.events: dict[str, bytes] = {}
        self.event_sizes: dict[str, int] = {}  # bytes of each live event's record
        self.history: list[bytes] = []  # audit entries not yet moved to the history file
        self.end = 0  # just past the last whole record; bytes after it are a torn append

    def copy(self) -> _Journal:
        other = _Journal()
        other.head, other.key, other.snapshot = self.head, self.key, self.snapshot
        other.events, other.event_sizes = dict(self.events), dict(self.event_sizes)
        other.history = list(self.history)
        other.end = self.end
        return other

    def live_bytes(self) -> int:
        """The size of the journal rewritten with only what is still live."""
        snapshot = 0 if self.snapshot is None else 2 * _MARK + 3 + len(self.snapshot)
        return len(self.head) + snapshot + sum(self.event_sizes.values())


def _parse_journal(raw: bytes, base: _Journal | None = None) -> _Journal:
    """Parse a journal file, or (with ``base``) the bytes appended to it after ``base.end``.

    A crash mid-append leaves a torn tail: bytes after the last whole record, or a last record
    whose payload fails its checksum. Both are ignored (that append never returned). Damage
    before a whole record cannot come from a crash: `_Corrupt`.
    """
    journal = base.copy() if base is not None else _Journal()
    offset = journal.end
    pos = 0
    while (record := _record_at(raw, pos)) is not None:
        kind, start, stop, crc = record
        if (kind == _HEAD) != (offset + pos == 0):
            raise _Corrupt(f"byte {offset + pos} holds a {kind.decode()} record out of place")
        if zlib.crc32(raw[start:stop]) != crc:
            if stop + _MARK == len(raw):
                break  # the last record, torn by a crash during its write
            raise _Corrupt(f"the record at byte {offset + pos} fails its checksum")
        _apply(journal, kind, raw[pos : stop + _MARK], raw[start:stop])
        pos = stop + _MARK
    last = _last_record_start(raw[-_MARK:], len(raw))
    if pos < len(raw) and last is not None and last > pos and _record_at(raw, last):
        raise _Corrupt(f"unreadable bytes at {offset + pos} before later whole records")
    journal.end = offset + pos
    return journal


def _apply(journal: _Journal, kind: bytes, record: bytes, payload: bytes) -> None:
    if kind == _HEAD:
        journal.head = record
        journal.key = _decode_id(payload.partition(b" ")[2], "instance id")
    elif kind == _EVENT:
        encoded, _, rest = payload.partition(b" ")
        event_id = _decode_id(encoded, "event id")
        entries, data = _split_history(rest)
        journal.history.extend(entries)
        journal.events[event_id] = data
        journal.event_sizes[event_id] = len(record) - (len(rest) - len(data)) + 2
    elif kind == _SNAPSHOT:
        consumed, _, rest = payload.partition(b"\n")
        _delete(journal, consumed)
        entries, journal.snapshot = _split_history(rest)
        journal.history.extend(entries)
    else:
        _delete(journal, payload)


def _history_block(entries: Sequence[bytes]) -> bytes:
    block = b"".join(_check_history_entry(entry) + b"\n" for entry in entries)
    return b"%d\n" % len(block) + block


def _split_history(rest: bytes) -> tuple[list[bytes], bytes]:
    """The audit entries at the start of ``rest`` (see `_history_block`), and what follows."""
    digits, newline, tail = rest.partition(b"\n")
    if not newline or not digits.isdigit() or int(digits) > len(tail):
        raise _Corrupt("a record holds a malformed block of audit entries")
    n = int(digits)
    return tail[:n].split(b"\n")[:-1], tail[n:]


def _delete(journal: _Journal, payload: bytes) -> None:
    for encoded in payload.split(b",")[:-1]:  # every id ends in a comma (ids may be "")
        event_id = _decode_id(encoded, "event id")
        journal.events.pop(event_id, None)
        journal.event_sizes.pop(event_id, None)


_RWF_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)  # Linux: fail, don't wait on a disk
_NOWAIT_BYTES = 64 * 1024  # the most a read on the event loop parses


def _pread_nowait(fd: int, size: int, offset: int) -> bytes | None:
    """Bytes at ``offset`` if they are in the page cache; ``None`` if reading would wait."""
    assert _RWF_NOWAIT is not None
    buffer = bytearray(size)
    try:
        got = os.preadv(fd, [buffer], offset, _RWF_NOWAIT)
    except (BlockingIOError, OSError):
        return None
    return bytes(buffer[:got])


def _still_head(cached: _Journal | None, fd: int, size: int) -> bool:
    """Whether the file `fd` (`size` bytes) is the one `cached` was parsed from, grown."""
    if cached is None or not cached.head or cached.end > size:
        return False
    return os.pread(fd, len(cached.head), 0) == cached.head


class _JournalCache:
    """Parsed journals by path, so that a read parses only what was appended since the last.

    An entry is used only if the file still starts with the entry's head record: every
    rewrite makes a new head (a random nonce), so a replaced file, even one that reuses the
    inode number, is parsed afresh. Bounded by entries and by bytes, least recently used first.
    """

    def __init__(self, max_entries: int = 4096, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[pathlib.Path, _Journal] = OrderedDict()
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes

    def read(self, path: pathlib.Path, fd: int, size: int) -> _Journal:
        with self._lock:
            cached = self._entries.get(path)
        if _still_head(cached, fd, size):
            assert cached is not None
            if cached.end == size:
                return cached
            journal = _parse_journal(_read_fd(fd, cached.end, size), cached)
            self._put(path, journal)
            return journal
        journal = _parse_journal(_read_fd(fd, 0, size))
        self._put(path, journal)
        return journal

    def read_nowait(self, path: pathlib.Path) -> _Journal | None:
        """The journal from the cache plus what was appended since, if every byte needed is in
        the page cache (``RWF_NOWAIT``) and few; ``None`` when that cannot be known."""
        with self._lock:
            cached = self._entries.get(path)
        if cached is None or not cached.head or _RWF_NOWAIT is None:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | _O_BINARY)
        except OSError:
            return None
        try:
            size = os.fstat(fd).st_size
            if not cached.end <= size <= cached.end + _NOWAIT_BYTES:
                return None
            if _pread_nowait(fd, len(cached.head), 0) != cached.head:
                return None
            if size == cached.end:
                return cached
            appended = _pread_nowait(fd, size - cached.end, cached.end)
            if appended is None or len(appended) != size - cached.end:
                return None
            journal = _parse_journal(appended, cached)
        except (OSError, _Corrupt):
            return None  # the blocking path reads it again and reports what is wrong
        finally:
            os.close(fd)
        self._put(path, journal)
        return journal

    def _put(self, path: pathlib.Path, journal: _Journal) -> None:
        with self._lock:
            old = self._entries.pop(path, None)
            if old is not None:
                self._bytes -= old.live_bytes()
            self._entries[path] = journal
            self._bytes += journal.live_bytes()
            while self._entries and (
                len(self._entries) > self._max_entries or self._bytes > self._max_bytes
            ):
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.live_bytes()


# ------------------------------------------------------------------------------------------
# On disk: durable file operations (raise OSError; callers turn it into StoreError)
# ------------------------------------------------------------------------------------------

_thread_locks = [threading.Lock() for _ in range(64)]  # used only where flock is missing


@contextlib.contextmanager
def _locked(path: pathlib.Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the duration.

    ``flock`` excludes other processes and, since each call opens its own descriptor, other
    threads too. Without ``fcntl`` (Windows) the lock holds only between threads.
    """
    if fcntl is None:
        with _thread_locks[hash(path) % len(_thread_locks)]:
            yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
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


def _read_fd(fd: int, start: int, stop: int) -> bytes:
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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # local files take it in one write; the loop only guards short writes
        view = view[os.write(fd, view) :]


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


def _ends_torn(fd: int, size: int) -> bool:
    """Whether the file (``size`` bytes) ends in a partial line (a crash mid-append)."""
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def _append_line(path: pathlib.Path, line: bytes) -> None:
    """Append ``line`` with one ``O_APPEND`` write, after terminating a torn last line.

    Two appenders that both see the torn line both add a newline: the extra empty line is
    skipped by reads like any corrupt line.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | _O_BINARY, 0o666)
    try:
        size = os.fstat(fd).st_size
        if _ends_torn(fd, size):
            line = b"\n" + line  # the torn fragment becomes a corrupt line that reads skip
        _write_all(fd, line)
        # No fsync: the audit history is written at every checkpoint and must not double its
        # cost. Once written it survives a crash of the process (it is in the page cache);
        # a power failure can lose its last entries, never the snapshot.
    finally:
        os.close(fd)
    if size == 0:
        _fsync_dir(path.parent)  # the file may be new: make its name durable too


class _OpenJournal:
    """A journal opened for appending by the holder of its lock."""

    def __init__(self, fd: int, path: pathlib.Path, instance_id: str, cache: _JournalCache) -> None:
        self.fd = fd
        self.path = path
        self.instance_id = instance_id
        self.cache = cache
        self.size = os.fstat(fd).st_size

    def read(self) -> _Journal:
        """The journal, parsed; a torn tail (a crashed writer) is cut off."""
        journal = self.cache.read(self.path, self.fd, self.size)
        _check_key(self.instance_id, journal)
        if journal.end < self.size:
            os.ftruncate(self.fd, journal.end)
            self.size = journal.end
        return journal

    def check_tail(self) -> None:
        """Cut off a torn tail, reading only the last record when there is none."""
        if self.size == 0:
            return
        tail = os.pread(self.fd, _MARK, max(0, self.size - _MARK))
        start = _last_record_start(tail, self.size)
        if start is None or os.pread(self.fd, _MARK, start) != tail:
            self.read()

    def append(self, records: bytes, *, sync: bool) -> None:
        new = self.size == 0
        if new:
            records = _head(self.instance_id) + records
        _write_all(self.fd, records)
        if sync:
            os.fsync(self.fd)
        if new:
            _fsync_dir(self.path.parent)  # a new file: make its name durable too
        self.size += len(records)

    def rewrite(
        self, moved: list[bytes], events: dict[str, bytes], last: bytes, history: pathlib.Path
    ) -> None:
        """Replace the journal by a new head, `events` and the record `last`: first the audit
        entries `moved` (those of the journal) go to the `history` file, fsync-ed; then the
        new journal is written, fsync-ed and renamed over the old one.

        A crash in between leaves `moved` in both; `_overlap` drops the copy.
        """
        if moved:
            _flush_history(history, moved)
        kept = (_frame(_EVENT, _event_payload(e, d)) for e, d in events.items())
        contents = _head(self.instance_id) + b"".join(kept) + last
        _write_atomic(self.path.parent, self.path.name, contents)


def _check_key(instance_id: str, journal: _Journal) -> None:
    if journal.end and journal.key != instance_id:
        raise _Corrupt(f"its head names instance {_short_repr(journal.key)}")


def _event_payload(event_id: str, data: bytes, history: Sequence[bytes] = ()) -> bytes:
    return _encoded(event_id) + b" " + _history_block(history) + data


def _snapshot_payload(
    consumed: Collection[str], history: Sequence[bytes], snapshot: bytes
) -> bytes:
    return _delete_payload(consumed) + b"\n" + _history_block(history) + snapshot


def _flush_history(path: pathlib.Path, entries: list[bytes]) -> None:
    """Append `entries` to the history file and fsync it, less any already at its end."""
    lines = [_history_line(entry) for entry in entries]
    with open(path, "a+b") as file:
        size = file.seek(0, os.SEEK_END)
        start = max(0, size - sum(map(len, lines)) - 1)
        file.seek(start)
        tail = file.read()
        pieces = tail.split(b"\n")[(1 if start else 0) : -1]  # whole lines only
        earlier = [e for e in map(_parse_history_line, pieces) if e is not None]
        skip = _overlap(earlier, entries)
        torn = b"\n" if tail and not tail.endswith(b"\n") else b""
        if skip < len(lines):
            file.write(torn + b"".join(lines[skip:]))
        file.flush()
        os.fsync(file.fileno())


def _overlap(earlier: list[bytes], later: list[bytes]) -> int:
    """The largest k such that `earlier` ends with the first k entries of `later`: entries
    moved to the history file by a rewrite that crashed before replacing the journal."""
    for k in range(min(len(earlier), len(later)), 0, -1):
        if earlier[-k:] == later[:k]:
            return k
    return 0


def _delete_payload(event_ids: Collection[str]) -> bytes:
    return b"".join(_encoded(e) + b"," for e in event_ids)


# ------------------------------------------------------------------------------------------
# On disk: the store
# ------------------------------------------------------------------------------------------


class DiskStateStore(StateStore):
    """A store in one folder of the local file system; safe across threads and processes.

    Each instance has an append-only *journal* ``i_<enc>.log`` holding its snapshots and its
    inbox, a lock file ``i_<enc>.lock`` and an audit history ``i_<enc>.history``
    (``<enc>``: the id's UTF-8 bytes with ``[a-z0-9_-]`` kept and every other byte written
    ``%XX``, uppercase hex; ids whose ``<enc>`` is longer than 180 characters use
    ``h_<sha256 hex of the id's bytes>`` in place of ``i_<enc>``).

    A checkpoint appends the snapshot and the ids of the events it consumed in one write and
    one fsync; publishing appends the event with one fsync. Writers hold the lock; readers
    need none and parse only what was appended since their last read. A crash mid-append
    leaves a torn tail that readers ignore and the next writer cuts off. A save rewrites the
    journal (write, fsync, rename, fsync the folder) once superseded records outweigh the live
    ones and 32 KiB. No id can produce a path outside `path`. File-system failures raise
    `StoreError` naming the instance id and the path. See the module docstring.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open the store in folder ``path``, creating it (and its parents) if missing."""
        self._path = pathlib.Path(path).absolute()
        try:
            self._path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the store folder {self._path}: {e}") from e
        _remove_stale_temps(self._path)
        self._cache = _JournalCache()
        self._known_paths: dict[str, tuple[pathlib.Path, pathlib.Path, pathlib.Path]] = {}

    @property
    def path(self) -> pathlib.Path:
        """The folder holding the store (absolute)."""
        return self._path

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._path)!r})"

    # -- the journal --------------------------------------------------------------------------

    def _paths(self, instance_id: str) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
        """The journal, lock and history files of `instance_id` (remembered: checkpoints run
        in worker threads, where every microsecond shows)."""
        paths = self._known_paths.get(_check_id(instance_id))
        if paths is None:
            stem = _stem(instance_id)
            paths = (
                self._path / (stem + _JOURNAL_SUFFIX),
                self._path / (stem + _LOCK_SUFFIX),
                self._path / (stem + _HISTORY_SUFFIX),
            )
            if len(self._known_paths) >= 4096:
                self._known_paths.clear()
            self._known_paths[instance_id] = paths
        return paths

    def _journal_path(self, instance_id: str) -> pathlib.Path:
        return self._paths(instance_id)[0]

    @contextlib.contextmanager
    def _errors(self, action: str, path: pathlib.Path) -> Iterator[None]:
        """Turn an OSError into a StoreError saying what failed and on which path."""
        try:
            yield
        except StoreError:
            raise
        except _Corrupt as e:
            raise StoreError(
                f"cannot {action}: the journal at {path} is damaged ({e}); it was left as it "
                "is: restore it from a backup, or move it away to drop the instance"
            ) from None
        except OSError as e:
            raise StoreError(f"cannot {action} at {path}: {e}") from e

    def _read(self, instance_id: str, action: str) -> _Journal:
        path = self._journal_path(instance_id)
        with self._errors(f"{action} of instance {_short_repr(instance_id)}", path):
            try:
                fd = os.open(path, os.O_RDONLY | _O_BINARY)
            except FileNotFoundError:
                return _Journal()
            try:
                journal = self._cache.read(path, fd, os.fstat(fd).st_size)
            finally:
                os.close(fd)
            _check_key(instance_id, journal)
        return journal

    @contextlib.contextmanager
    def _writing(self, instance_id: str, action: str) -> Iterator[_OpenJournal]:
        """Hold the instance's lock and its journal open for appending."""
        path, lock, _ = self._paths(instance_id)
        with self._errors(f"{action} of instance {_short_repr(instance_id)}", path), _locked(lock):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | _O_BINARY, 0o644)
            try:
                yield _OpenJournal(fd, path, instance_id, self._cache)
            finally:
                os.close(fd)

    # -- snapshots ----------------------------------------------------------------------------

    def load(self, instance_id: str) -> bytes | None:
        return self._read(instance_id, "load the snapshot").snapshot

    def load_with_events(self, instance_id: str) -> tuple[bytes | None, list[tuple[str, bytes]]]:
        journal = self._read(instance_id, "load the snapshot")
        return journal.snapshot, sorted(journal.events.items())

    def try_load_with_events(
        self, instance_id: str
    ) -> tuple[bytes | None, list[tuple[str, bytes]]] | None:
        # A journal this object read before, grown by a few page-cached bytes: a handful of
        # non-blocking system calls, far cheaper than a trip to a worker thread.
        journal = self._cache.read_nowait(self._journal_path(instance_id))
        if journal is None or journal.key != instance_id:
            return None
        return journal.snapshot, sorted(journal.events.items())

    def save(self, instance_id: str, data: bytes) -> None:
        self.commit(instance_id, data, lambda current: True)

    def save_if(
        self, instance_id: str, data: bytes, expected: Callable[[bytes | None], bool]
    ) -> bool:
        return self.commit(instance_id, data, expected)

    def commit(
        self,
        instance_id: str,
        data: bytes,
        expected: Callable[[bytes | None], bool],
        consumed: Collection[str] = (),
        history: Sequence[bytes] = (),
    ) -> bool:
        snapshot = _as_bytes(data, "snapshot")
        consumed = [_check_event_id(e) for e in consumed]
        entries = [_check_history_entry(entry) for entry in history]
        with self._writing(instance_id, "save the snapshot") as journal_file:
            journal = journal_file.read()
            if not expected(journal.snapshot):
                return False
            after = journal.copy()
            gone = [e for e in dict.fromkeys(consumed) if e in after.events]
            for event_id in gone:
                del after.events[event_id], after.event_sizes[event_id]
            after.snapshot = snapshot
            # One record, so that the save, the consumption and the audit entries land
            # together or not at all.
            record = _frame(_SNAPSHOT, _snapshot_payload(gone, entries, snapshot))
            superseded = journal.end + len(record) - after.live_bytes()
            if superseded > max(_COMPACT_BYTES, after.live_bytes()):
                last = _frame(_SNAPSHOT, _snapshot_payload((), entries, snapshot))
                moved_to = self._history(instance_id)
                journal_file.rewrite(journal.history, after.events, last, moved_to)
            else:
                journal_file.append(record, sync=True)
            return True

    def list_instances(self) -> list[str]:
        with self._errors("list the instances", self._path), os.scandir(self._path) as entries:
            names = [e.name for e in entries if e.name.endswith(_JOURNAL_SUFFIX) and e.is_file()]
        ids = (self._id_with_snapshot(name) for name in names)
        return sorted(i for i in ids if i is not None)

    def _id_with_snapshot(self, name: str) -> str | None:
        """The id whose journal file is `name`, if it holds a snapshot; else ``None``."""
        path = self._path / name
        with self._errors("list the instances", path):
            journal = _parse_journal(_read_or_none(path) or b"")
        key = journal.key
        if journal.snapshot is None or key is None:
            return None
        return key if _stem(key) + _JOURNAL_SUFFIX == name else None

    # -- inbox --------------------------------------------------------------------------------

    def add_event(self, instance_id: str, event_id: str, data: bytes) -> None:
        self.publish(instance_id, event_id, data)

    def publish(
        self, instance_id: str, event_id: str, data: bytes, history: Sequence[bytes] = ()
    ) -> None:
        event_id = _check_event_id(event_id)
        entries = [_check_history_entry(entry) for entry in history]
        payload = _event_payload(event_id, _as_bytes(data, "event data"), entries)
        with self._writing(instance_id, "add an event") as journal_file:
            journal_file.check_tail()
            journal_file.append(_frame(_EVENT, payload), sync=True)

    def list_events(self, instance_id: str) -> list[tuple[str, bytes]]:
        return sorted(self._read(instance_id, "list the events").events.items())

    def delete_events(self, instance_id: str, event_ids: Collection[str]) -> None:
        ids = [_check_event_id(e) for e in event_ids]
        live = self._read(instance_id, "delete events").events
        gone = [e for e in dict.fromkeys(ids) if e in live]
        if not gone:
            return  # nothing to write: deleting is idempotent and usually already done
        # No fsync: the runtime deletes only events that a saved snapshot names as consumed,
        # and deletes them again when it loads that snapshot; the next fsync of this journal
        # (it holds the next snapshot) makes the deletion durable.
        with self._writing(instance_id, "delete events") as journal_file:
            journal_file.check_tail()
            journal_file.append(_frame(_DELETE, _delete_payload(gone)), sync=False)

    # -- history ------------------------------------------------------------------------------

    def _history(self, instance_id: str) -> pathlib.Path:
        return self._paths(instance_id)[2]

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
        """The history file's entries, then those still in the journal.

        The journal is read first: a rewrite after that can only have copied its entries to
        the end of the file, where `_overlap` finds them.
        """
        pending = self._read(instance_id, "read the history").history
        path = self._history(instance_id)
        with self._errors(f"read the history of instance {_short_repr(instance_id)}", path):
            raw = _read_or_none(path)
        # The piece after the last newline is empty or a torn append: never an entry.
        lines = raw.split(b"\n")[:-1] if raw else []
        entries = [e for e in map(_parse_history_line, lines) if e is not None]
        return entries + pending[_overlap(entries, pending) :]
