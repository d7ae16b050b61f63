"""`DiskStateStore`: the store class over the journal format and the file primitives."""

from __future__ import annotations

import contextlib
import os
import pathlib
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime

from ..._model import InstanceHeader
from ...errors import StoreError
from .._contract import (
    DEFAULT_KEEP_CHECKPOINTS,
    InboxEvent,
    Lease,
    StateStore,
    StoredInstance,
    _as_bytes,
    _check_event_id,
    _check_header,
    _check_history_entry,
    _check_id,
    _event_name,
    _legacy_seq,
    _short_repr,
    check_keep,
    check_lease_args,
    from_micros,
    header_matches,
    micros,
    ready_among,
)
from ._files import (
    O_BINARY,
    RWF_NOWAIT,
    append_line,
    flush_history,
    fsync_dir,
    locked,
    pread_nowait,
    read_fd,
    read_lease,
    read_or_none,
    remove_stale_temps,
    unlink_if_any,
    write_all,
    write_atomic,
    write_lease,
)
from ._journal import (
    COMPACT_BYTES,
    Corrupt,
    Journal,
    checkpoint_record,
    delete_record,
    event_record,
    head,
    head_key,
    history_line,
    overlap,
    parse_history,
    parse_journal,
)
from ._names import (
    HISTORY_SUFFIX,
    JOURNAL_SUFFIX,
    LOCK_SUFFIX,
    id_of_journal,
    is_journal,
    stem,
)

__all__ = ["DiskStateStore"]

_NOWAIT_BYTES = 64 * 1024  # the most a read on the event loop parses


def _still_head(cached: Journal | None, fd: int, size: int) -> bool:
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
        self._entries: OrderedDict[pathlib.Path, Journal] = OrderedDict()
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes

    def get(self, path: pathlib.Path) -> Journal | None:
        with self._lock:
            return self._entries.get(path)

    def read(self, path: pathlib.Path, fd: int, size: int) -> Journal:
        cached = self.get(path)
        if _still_head(cached, fd, size):
            assert cached is not None
            if cached.end == size:
                return cached
            journal = parse_journal(read_fd(fd, cached.end, size), cached)
        else:
            journal = parse_journal(read_fd(fd, 0, size))
        self.put(path, journal)
        return journal

    def read_nowait(self, path: pathlib.Path) -> Journal | None:
        """The journal from the cache plus what was appended since, if every byte needed is in
        the page cache (``RWF_NOWAIT``) and few; ``None`` when that cannot be known."""
        cached = self.get(path)
        if cached is None or not cached.head or RWF_NOWAIT is None:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | O_BINARY)
        except OSError:
            return None
        try:
            size = os.fstat(fd).st_size
            if not cached.end <= size <= cached.end + _NOWAIT_BYTES:
                return None
            if pread_nowait(fd, len(cached.head), 0) != cached.head:
                return None
            if size == cached.end:
                return cached
            appended = pread_nowait(fd, size - cached.end, cached.end)
            if appended is None or len(appended) != size - cached.end:
                return None
            journal = parse_journal(appended, cached)
        except (OSError, Corrupt):
            return None  # the blocking path reads it again and reports what is wrong
        finally:
            os.close(fd)
        self.put(path, journal)
        return journal

    def drop(self, path: pathlib.Path) -> None:
        with self._lock:
            old = self._entries.pop(path, None)
            if old is not None:
                self._bytes -= old.live_bytes()

    def put(self, path: pathlib.Path, journal: Journal) -> None:
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


class _OpenJournal:
    """A journal held by the holder of its lock: open for appending, or not yet created."""

    def __init__(
        self, path: pathlib.Path, instance_id: str, cache: _JournalCache, lock_fd: int
    ) -> None:
        self.path = path
        self.instance_id = instance_id
        self.cache = cache
        self.lock_fd = lock_fd  # the held lock file, which holds the lease
        try:
            self.fd: int | None = os.open(path, os.O_RDWR | os.O_APPEND | O_BINARY)
        except FileNotFoundError:
            self.fd = None  # created whole by the first append
        self.size = 0 if self.fd is None else os.fstat(self.fd).st_size
        self.journal: Journal | None = None  # what `read` found

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)

    def read(self) -> Journal:
        """The journal, parsed; a torn tail (a crashed writer) is cut off, and damage raises
        `Corrupt` before anything is written. Every writer calls it before appending: through
        the cache it costs a read of the head and of the bytes appended since the last read
        by this store object."""
        if self.fd is None:
            self.journal = Journal()
            return self.journal
        journal = self.cache.read(self.path, self.fd, self.size)
        _check_key(self.instance_id, journal)
        if journal.end < self.size:
            os.ftruncate(self.fd, journal.end)
            self.size = journal.end
        self.journal = journal
        return journal

    def append(self, records: bytes) -> None:
        """Append ``records`` and fsync; a new journal is written whole with its head (temp
        file, fsync, rename, fsync the folder), so no crash leaves it empty or headless."""
        if self.fd is None:
            contents = head(self.instance_id) + records
            write_atomic(self.path.parent, self.path.name, contents)
            self._remember(contents, None)
            return
        write_all(self.fd, records)
        os.fsync(self.fd)
        self.size += len(records)
        if self.journal is not None:
            self._remember(records, self.journal)

    def rewrite(
        self,
        moved: list[bytes],
        journal: Journal,
        last: bytes,
        history: pathlib.Path,
        kept: Sequence[tuple[InstanceHeader, bytes, int]] = (),
    ) -> None:
        """Replace the journal by a new head, the retained checkpoints ``kept`` (without
        their audit entries or consumed ids), the live events of ``journal`` and the record
        ``last``: first the audit entries ``moved`` (those of the journal) go to the
        ``history`` file, fsync-ed; then the new journal is written atomically.

        A crash in between leaves ``moved`` in both; `overlap` drops the copy.
        """
        if moved:
            flush_history(history, moved)
        past = b"".join(checkpoint_record((), h, (), data) for h, data, _ in kept)
        live = (event_record(e, name, data) for e, (name, data) in journal.events.items())
        contents = head(self.instance_id) + past + b"".join(live) + last
        write_atomic(self.path.parent, self.path.name, contents)
        self._remember(contents, None)

    def _remember(self, written: bytes, base: Journal | None) -> None:
        """Cache the journal as just written, parsed from memory: the next read of it by this
        store object reads back none of these bytes."""
        if base is not None and base.end + len(written) != self.size:
            return  # not what `read` found plus these bytes: leave it to the next read
        with contextlib.suppress(Corrupt):  # cannot happen; the write is done either way
            self.cache.put(self.path, parse_journal(written, base))


def _check_key(instance_id: str, journal: Journal) -> None:
    if journal.head and journal.key != instance_id:
        raise Corrupt(f"its head names instance {_short_repr(journal.key)}")


def _inbox(instance_id: str, journal: Journal) -> tuple[InboxEvent, ...]:
    return tuple(
        InboxEvent(e, _event_name(instance_id, e, data) if name is None else name, data)
        for e, (name, data) in sorted(journal.events.items())
    )


def _names_in(instance_id: str, journal: Journal) -> set[str]:
    """The event names in the inbox; a legacy event whose data names none is left out."""
    names = set()
    for event_id, (name, data) in journal.events.items():
        if name is None:
            try:
                name = _event_name(instance_id, event_id, data)
            except StoreError:
                continue
        names.add(name)
    return names


class DiskStateStore(StateStore):
    """A store in one folder of the local file system; safe across threads and processes.

    Each instance has an append-only *journal* ``i_<enc>.log`` holding its checkpoints (the
    snapshot with its header) and its inbox, a lock file ``i_<enc>.lock`` and an audit history
    ``i_<enc>.history`` (``<enc>``: the id's UTF-8 bytes with ``[a-z0-9_-]`` kept and every
    other byte written ``%XX``, uppercase hex; ids whose ``<enc>`` is longer than 180
    characters use ``h_<sha256 hex of the id's bytes>`` in place of ``i_<enc>``).

    A checkpoint appends the snapshot, its header and the ids of the events it consumed in
    one write and one fsync; publishing appends the event and its name with one fsync.
    Writers hold the lock; readers need none and parse only what was appended since their
    last read. A crash mid-append leaves a torn tail that readers ignore and the next writer
    cuts off; any other damage raises `StoreError` naming the instance and the file, and the
    file is left as it is. No id can produce a path outside `path`. See the package docstring.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, keep_checkpoints: int = DEFAULT_KEEP_CHECKPOINTS
    ) -> None:
        """Open the store in folder ``path``, creating it (and its parents) if missing.
        ``keep_checkpoints``: superseded checkpoints kept per instance (0: none); they stay
        in the journal, and a rewrite keeps the last ones."""
        self.keep_checkpoints = check_keep(keep_checkpoints)
        self._path = pathlib.Path(path).absolute()
        try:
            self._path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the store folder {self._path}: {e}") from e
        remove_stale_temps(self._path)
        self._cache = _JournalCache()
        self._known_paths: dict[str, tuple[pathlib.Path, pathlib.Path, pathlib.Path]] = {}

    @property
    def path(self) -> pathlib.Path:
        """The folder holding the store (absolute)."""
        return self._path

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._path)!r})"

    # -- files ------------------------------------------------------------------------------

    def _paths(self, instance_id: str) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
        """The journal, lock and history files of `instance_id` (remembered: checkpoints run
        in worker threads, where every microsecond shows)."""
        paths = self._known_paths.get(_check_id(instance_id))
        if paths is None:
            name = stem(instance_id)
            paths = (
                self._path / (name + JOURNAL_SUFFIX),
                self._path / (name + LOCK_SUFFIX),
                self._path / (name + HISTORY_SUFFIX),
            )
            if len(self._known_paths) >= 4096:
                self._known_paths.clear()
            self._known_paths[instance_id] = paths
        return paths

    @contextlib.contextmanager
    def _errors(self, action: str, path: pathlib.Path) -> Iterator[None]:
        """Turn an OSError or damage into a StoreError saying what failed and on which path."""
        try:
            yield
        except StoreError:
            raise
        except Corrupt as e:
            raise StoreError(
                f"cannot {action}: the journal at {path} is damaged ({e}); it was left as it "
                "is: restore it from a backup, or move it away to drop the instance"
            ) from None
        except OSError as e:
            raise StoreError(f"cannot {action} at {path}: {e}") from e

    def _parse(self, path: pathlib.Path) -> Journal | None:
        """The journal at ``path`` (None if there is none); raises OSError or `Corrupt`."""
        try:
            fd = os.open(path, os.O_RDONLY | O_BINARY)
        except FileNotFoundError:
            return None
        try:
            return self._cache.read(path, fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)

    def _read(self, instance_id: str, action: str) -> Journal:
        path = self._paths(instance_id)[0]
        with self._errors(f"{action} of instance {_short_repr(instance_id)}", path):
            journal = self._parse(path) or Journal()
            _check_key(instance_id, journal)
        return journal

    @contextlib.contextmanager
    def _writing(self, instance_id: str, action: str) -> Iterator[_OpenJournal]:
        """Hold the instance's lock and its journal open for appending."""
        path, lock, _ = self._paths(instance_id)
        with (
            self._errors(f"{action} of instance {_short_repr(instance_id)}", path),
            locked(lock) as lock_fd,
        ):
            journal_file = _OpenJournal(path, instance_id, self._cache, lock_fd)
            try:
                yield journal_file
            finally:
                journal_file.close()

    # -- the four operations ----------------------------------------------------------------

    def read(self, instance_id: str) -> StoredInstance:
        journal = self._read(instance_id, "read")
        return StoredInstance(journal.header, journal.snapshot, _inbox(instance_id, journal))

    def try_read(self, instance_id: str) -> StoredInstance | None:
        # A journal this object read before, grown by a few page-cached bytes: a handful of
        # non-blocking system calls, far cheaper than a trip to a worker thread.
        journal = self._cache.read_nowait(self._paths(instance_id)[0])
        if journal is None or journal.key != instance_id:
            return None
        try:
            inbox = _inbox(instance_id, journal)
        except StoreError:
            return None  # the blocking path reports it
        return StoredInstance(journal.header, journal.snapshot, inbox)

    def commit(
        self,
        instance_id: str,
        expected_seq: int,
        header: InstanceHeader,
        data: bytes,
        consumed: Collection[str] = (),
        history: Sequence[bytes] = (),
        *,
        owner: str | None = None,
    ) -> bool:
        _check_header(header)
        return self._checkpoint(instance_id, expected_seq, header, data, consumed, history, owner)

    def load(self, instance_id: str) -> bytes | None:
        return self._read(instance_id, "load the snapshot").snapshot

    def save(self, instance_id: str, data: bytes) -> None:
        """Replace the snapshot alone (the seed contract): a checkpoint without a header."""
        self._checkpoint(instance_id, None, None, data)

    def _checkpoint(
        self,
        instance_id: str,
        expected_seq: int | None,
        header: InstanceHeader | None,
        data: bytes,
        consumed: Collection[str] = (),
        history: Sequence[bytes] = (),
        owner: str | None = None,
    ) -> bool:
        snapshot = _as_bytes(data, "snapshot")
        consumed = [_check_event_id(e) for e in consumed]
        entries = [_check_history_entry(entry) for entry in history]
        with self._writing(instance_id, "save the snapshot") as journal_file:
            journal = journal_file.read()
            lease = None if owner is None else read_lease(journal_file.lock_fd)
            if lease is not None and lease[0] != owner:
                return False  # another worker took the instance over
            if expected_seq is not None:
                seq = journal.seq()
                if (_legacy_seq(journal.snapshot) if seq is None else seq) != expected_seq:
                    return False
            after = journal.copy()
            gone = [e for e in dict.fromkeys(consumed) if e in after.events]
            after.forget(gone)
            # One record, so that the save, its header, the consumption and the audit entries
            # land together or not at all.
            record = checkpoint_record(gone, header, entries, snapshot)
            after.snapshot_size = len(record)
            kept = self._kept(journal)
            live = after.live_bytes() + sum(size for _, _, size in kept)
            superseded = journal.end + len(record) - live
            if superseded > max(COMPACT_BYTES, live):
                last = checkpoint_record((), header, entries, snapshot)
                history_path = self._paths(instance_id)[2]
                journal_file.rewrite(journal.history, after, last, history_path, kept)
            else:
                journal_file.append(record)
            if lease is not None and header is not None and header.status != "running":
                write_lease(journal_file.lock_fd, None)
            return True

    def _kept(self, journal: Journal) -> list[tuple[InstanceHeader, bytes, int]]:
        """The checkpoints a rewrite after the next commit keeps: the current one and those
        before it, `keep_checkpoints` in all."""
        current = []
        if journal.header is not None and journal.snapshot is not None:
            current = [(journal.header, journal.snapshot, journal.snapshot_size)]
        return [*journal.past, *current][-self.keep_checkpoints :] if self.keep_checkpoints else []

    def checkpoints(self, instance_id: str) -> list[tuple[InstanceHeader, bytes]]:
        journal = self._read(instance_id, "read the checkpoints")
        return [(h, data) for h, data, _ in journal.retained(self.keep_checkpoints)]

    def publish(
        self,
        instance_id: str,
        event_id: str,
        name: str,
        data: bytes,
        history: Sequence[bytes] = (),
    ) -> None:
        self._append_event(instance_id, _check_event_id(event_id), name, data, history)

    def _append_event(
        self,
        instance_id: str,
        event_id: str,
        name: str | None,
        data: bytes,
        history: Sequence[bytes] = (),
    ) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"event name must be a str, got {type(name).__qualname__}")
        entries = [_check_history_entry(entry) for entry in history]
        record = event_record(event_id, name, _as_bytes(data, "event data"), entries)
        with self._writing(instance_id, "add an event") as journal_file:
            journal_file.read()  # cuts a torn tail; refuses a damaged journal
            journal_file.append(record)

    # -- leases: in the instance's lock file, under its lock ----------------------------------

    def claim(self, instance_id: str, owner: str, now: datetime, until: datetime) -> bool:
        owner = check_lease_args(owner, now, until)
        path = self._paths(instance_id)[1]
        with self._errors(f"claim instance {_short_repr(instance_id)}", path), locked(path) as fd:
            held = read_lease(fd)
            if held is not None and held[0] != owner and held[1] > micros(now):
                return False
            write_lease(fd, (owner, micros(until)))
            return True

    def renew(self, instance_id: str, owner: str, until: datetime) -> bool:
        owner = check_lease_args(owner, until, until)
        path = self._paths(instance_id)[1]
        if not path.exists():
            return False
        with (
            self._errors(f"renew the lease of {_short_repr(instance_id)}", path),
            locked(path) as fd,
        ):
            held = read_lease(fd)
            if held is None or held[0] != owner:
                return False
            write_lease(fd, (owner, micros(until)))
            return True

    def release(self, instance_id: str, owner: str) -> None:
        path = self._paths(instance_id)[1]
        if not path.exists():
            return
        with self._errors(f"release instance {_short_repr(instance_id)}", path), locked(path) as fd:
            held = read_lease(fd)
            if held is not None and held[0] == owner:
                write_lease(fd, None)

    def lease(self, instance_id: str) -> Lease | None:
        path = self._paths(instance_id)[1]
        try:
            fd = os.open(path, os.O_RDONLY | O_BINARY)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StoreError(
                f"cannot read the lease of {_short_repr(instance_id)} at {path}: {e}"
            ) from e
        try:
            held = read_lease(fd)
        finally:
            os.close(fd)
        return None if held is None else Lease(held[0], from_micros(held[1]))

    # -- deleting -----------------------------------------------------------------------------

    def delete(self, instance_id: str) -> bool:
        """Remove the instance's files under its lock: the journal first (unlinked, the folder
        fsync-ed: from then on the instance reads as never saved, even after a power loss),
        then the history file, then the lock file with the lease in it (package docstring).

        A crash in between leaves the history or lock file of an id with no journal: no
        instance reads as there, and `delete` again removes what is left. The journal is not
        parsed, so a damaged one is deleted too. Rejected: renaming the journal to a temp name
        first; an unlink is as atomic, and leaves nothing to clean."""
        journal, lock, history = self._paths(instance_id)
        with (
            self._errors(f"delete instance {_short_repr(instance_id)}", journal),
            locked(lock) as lock_fd,
        ):
            found = read_lease(lock_fd) is not None
            if unlink_if_any(journal):
                found = True
                fsync_dir(self._path)
            self._cache.drop(journal)
            found = unlink_if_any(history) or found
            write_lease(lock_fd, None)
            # A writer waiting on it starts over on a new one (`locked`). Windows cannot
            # unlink an open file: the emptied lock file stays there.
            with contextlib.suppress(PermissionError):
                os.unlink(lock)
            fsync_dir(self._path)
        return found

    def ready(self, now: datetime, limit: int = 100) -> list[str]:
        """Paused instances whose wait resolves at ``now``, from the headers and inbox names
        of the journals (through the parse cache; no snapshot is parsed). Damaged journals
        and legacy snapshots (no header) are left out."""
        headers: dict[str, InstanceHeader] = {}
        journals: dict[str, Journal] = {}
        for instance_id, journal in self._journals():
            if journal.header is not None:
                headers[instance_id] = journal.header
                journals[instance_id] = journal
        return ready_among(
            headers,
            now,
            limit,
            lambda i: _names_in(i, journals[i]),
            lambda i: None,  # every header is in `headers` already
        )

    def _journals(self) -> Iterator[tuple[str, Journal]]:
        """Every sound journal in the folder with the id it belongs to."""
        for name in self._journal_names():
            path = self._path / name
            try:
                journal = self._parse(path)
            except (OSError, Corrupt):
                continue
            if journal is not None and journal.key is not None and _named(journal.key, name):
                yield journal.key, journal

    def read_header(self, instance_id: str) -> InstanceHeader | None:
        return self._read(instance_id, "read the header").header

    # -- listing --------------------------------------------------------------------------

    def _journal_names(self) -> list[str]:
        with self._errors("list the instances", self._path), os.scandir(self._path) as entries:
            return [e.name for e in entries if is_journal(e.name) and e.is_file()]

    def list_instances(self) -> list[str]:
        """Every id with a snapshot, and every id whose journal is damaged (reading it raises
        `StoreError`). A damaged ``h_<sha256>`` journal whose head cannot be read names no
        id: it is left out here and reported by `damaged`."""
        ids = []
        for name in self._journal_names():
            instance_id, journal, _ = self._examine(name)
            if instance_id is not None and (journal is None or journal.snapshot is not None):
                ids.append(instance_id)
        return sorted(ids)

    def list_headers(
        self,
        status: str | None = None,
        program: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[tuple[str, InstanceHeader | None]]:
        """A page of headers, sorted by id (`StateStore.list_headers`). The ids come from
        the file names (only ``h_<sha256>`` journals are opened to learn theirs); then
        journals are read in id order only until the page is full."""
        found: list[tuple[str, InstanceHeader | None]] = []
        for instance_id in sorted(self._journal_ids()):
            if len(found) >= limit:
                break
            if after is not None and instance_id <= after:
                continue
            try:
                journal = self._read(instance_id, "read the header")
            except StoreError:
                journal = None  # damaged: listed, as `list_instances` lists it
            if journal is not None and journal.snapshot is None:
                continue
            header = None if journal is None else journal.header
            if header_matches(header, status, program):
                found.append((instance_id, header))
        return found

    def _journal_ids(self) -> set[str]:
        ids = set()
        for name in self._journal_names():
            instance_id = id_of_journal(name)
            if instance_id is None:
                instance_id = self._examine(name)[0]
            if instance_id is not None:
                ids.add(instance_id)
        return ids

    def damaged(self) -> list[tuple[str, str]]:
        """``(journal path, problem)`` for every journal that cannot be read, sorted by path:
        those of `list_instances` whose reads raise, and hashed ones that name no id."""
        found = []
        for name in self._journal_names():
            _, _, problem = self._examine(name)
            if problem is not None:
                found.append((str(self._path / name), problem))
        return sorted(found)

    def _examine(self, name: str) -> tuple[str | None, Journal | None, str | None]:
        """``(id, journal, problem)`` for the journal file ``name``: the journal is None when
        it cannot be read (``problem`` says why), the id when it cannot be known."""
        path = self._path / name
        instance_id = id_of_journal(name)
        try:
            journal = self._parse(path)
            if journal is None:
                return None, None, None  # deleted since the listing
            if instance_id is None:
                instance_id = journal.key
                if instance_id is None or not _named(instance_id, name):
                    raise Corrupt("its head names an id whose journal has another name")
            _check_key(instance_id, journal)
            return instance_id, journal, None
        except (OSError, Corrupt) as e:
            if instance_id is None:
                key = head_key(read_or_none(path) or b"")
                instance_id = key if key is not None and _named(key, name) else None
            return instance_id, None, str(e) or type(e).__name__

    # -- the seed inbox -------------------------------------------------------------------

    def add_event(self, instance_id: str, event_id: str, data: bytes) -> None:
        """Add an event whose name is in its data (the seed contract: JSON with ``name``)."""
        event_id = _check_event_id(event_id)
        copy = _as_bytes(data, "event data")
        self.publish(instance_id, event_id, _event_name(instance_id, event_id, copy), copy)

    def list_events(self, instance_id: str) -> list[tuple[str, bytes]]:
        events = self._read(instance_id, "list the events").events
        return sorted((e, data) for e, (_, data) in events.items())

    def delete_events(self, instance_id: str, event_ids: Collection[str]) -> None:
        ids = [_check_event_id(e) for e in event_ids]
        live = self._read(instance_id, "delete events").events
        gone = [e for e in dict.fromkeys(ids) if e in live]
        if not gone:
            return  # nothing to write: deleting is idempotent and usually already done
        with self._writing(instance_id, "delete events") as journal_file:
            journal_file.read()  # cuts a torn tail; refuses a damaged journal
            journal_file.append(delete_record(gone))

    # -- history --------------------------------------------------------------------------

    def append_history(self, instance_id: str, entry: bytes) -> None:
        self.append_history_many(instance_id, [entry])

    def append_history_many(self, instance_id: str, entries: Sequence[bytes]) -> None:
        path = self._paths(instance_id)[2]
        lines = b"".join(history_line(_check_history_entry(entry)) for entry in entries)
        if not lines:
            return
        with self._errors(f"append to the history of instance {_short_repr(instance_id)}", path):
            append_line(path, lines)

    def read_history(self, instance_id: str) -> list[bytes]:
        """The history file's entries, then those still in the journal.

        The journal is read first: a rewrite after that can only have copied its entries to
        the end of the file, where `overlap` finds them.
        """
        pending = self._read(instance_id, "read the history").history
        path = self._paths(instance_id)[2]
        with self._errors(f"read the history of instance {_short_repr(instance_id)}", path):
            entries = parse_history(read_or_none(path))
        return entries + pending[overlap(entries, pending) :]


def _named(instance_id: str, name: str) -> bool:
    return stem(instance_id) + JOURNAL_SUFFIX == name
