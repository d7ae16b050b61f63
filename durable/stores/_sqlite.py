"""`SQLiteStateStore`: every instance in one SQLite database file (WAL mode, stdlib `sqlite3`).

Schema (version 3, kept in ``PRAGMA user_version``; ``PRAGMA application_id`` marks the file
as a durable store; older versions are migrated when the file is opened)
====================================================================================

Every id and every other caller-given string (event ids and names, parent, program, lease
owner) is stored as a BLOB of its UTF-8 bytes with ``surrogatepass``: SQLite text cannot hold a
lone surrogate, and bytes compare (memcmp) in code point order, so sorting by a BLOB column
sorts as Python sorts the strings. Times are INTEGER microseconds since the Unix epoch (UTC):
exact and sortable for every aware datetime. ::

    instances(id PK, seq, status, program, wake_at, children_mode, parent, lease_owner,
              lease_until, created_at, updated_at, events JSON, children JSON, header JSON)
        the header as columns, one row per instance with a snapshot; a snapshot saved
        through the seed contract's `save` has a row whose header columns are NULL
    snapshots(id PK, data)            the snapshot bytes (apart, so that rows scanned by
                                      ready() stay small)
    inbox(instance_id, event_id, name, data)   PK (instance_id, event_id); index on name
    history(n INTEGER PK, instance_id, entry)  index on (instance_id, n)
    waits(instance_id, name)          the event names a *paused* instance awaits
    children(instance_id, position, child_id, first)  the children a *paused* instance
                                      awaits (first: 1 for ``children_mode="first"``)
    leases(instance_id PK, owner, until)  who runs an instance now (version 2)
    checkpoints(instance_id, seq, header, data)  PK (instance_id, seq): superseded
                                      checkpoints, the last ``keep_checkpoints`` (version 3)

``waits`` and ``children`` are written by `commit` from the header, in the same transaction,
so that `ready` is a handful of indexed queries and never reads a snapshot.

Transactions and durability
===========================

Every write is one ``BEGIN IMMEDIATE`` transaction (it takes SQLite's write lock first, so
two processes never both decide on a stale ``seq``): `commit` reads the lease holder and the
stored header's columns in one statement (`CURRENT`) and checks ``seq``, then copies the
checkpoint it supersedes to ``checkpoints`` (dropping the one that falls out of the last
``keep_checkpoints``), upserts the header and the snapshot, deletes the consumed events,
rewrites ``waits`` and ``children`` when they change (a loop that waits for the same event
again writes neither) and appends the audit entries; `commit_unless` (a pause) first reads
the inbox in the same transaction and writes nothing when it resolves the wait; `publish`
inserts the event and its audit entries; `delete` removes the instance's rows from every
table. Reads run in one deferred transaction on a second connection of their own: a
consistent snapshot of the database that never waits for a writer (WAL).

**Group commit** (``durable/stores/_batch.py``). Writes from many threads at once share
transactions: a writer queues its work; one writer at a time leads, running every queued
write in one ``BEGIN IMMEDIATE`` ... ``COMMIT`` (one fsync), and hands each writer its own
result. When a write of the batch fails, the batch is rolled back and run again with each
write inside a ``SAVEPOINT``, so that the failing write rolls back alone (savepoints always
cost a batch of pauses a fifth of its statements). A writer
returns only after the ``COMMIT`` that holds its write, so a checkpoint is still durable when
`commit` returns; when that ``COMMIT`` fails, every write of the batch raises `StoreError`.
Checkpoints of many instances at the same moment (a `durable.Worker`) thus cost one fsync
per batch.

``synchronous="FULL"`` (the default) makes a commit durable when `commit` returns (the WAL is
fsync-ed at each commit). ``synchronous="NORMAL"`` skips that fsync (the WAL is synced at
checkpoints only): much faster, still never corrupt, but a power loss or OS crash may lose
the last transactions (a process crash loses nothing).

A damaged file (garbage, truncated, a corrupted page) raises `StoreError` naming the database
path, at open or at the first query that meets the damage; nothing is ever recreated or reset
over it. `SQLiteStateStore.check` runs SQLite's full integrity check on demand.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple, TypeVar

from .._model import CANCEL_EVENT, InstanceHeader
from ..errors import StoreError
from ._batch import GroupCommit, Write
from ._contract import (
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
    micros,
    parse_header,
    roots_of,
)
from ._sqlite_schema import (
    APPLICATION_ID,
    CLAIM,
    CURRENT,
    INSTANCE_ROWS,
    MIGRATIONS,
    READ_INSTANCE,
    READY,
    RETAIN,
    SCHEMA_VERSION,
    UPSERT_INSTANCE,
    UPSERT_SNAPSHOT,
)

__all__ = ["SQLiteStateStore"]

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Synchronous = Literal["FULL", "NORMAL"]


def _b(text: str) -> bytes:
    """A string as stored: its UTF-8 bytes, lone surrogates included."""
    return text.encode("utf-8", "surrogatepass")


def _s(blob: bytes) -> str:
    return blob.decode("utf-8", "surrogatepass")


def _b_or_none(text: str | None) -> bytes | None:
    return None if text is None else _b(text)


def _micros(moment: datetime | None) -> int | None:
    """Microseconds since the Unix epoch: exact, and ordered as the datetimes are."""
    return None if moment is None else (moment - _EPOCH) // _MICROSECOND


def _inbox_in(db: sqlite3.Connection, key: bytes) -> tuple[InboxEvent, ...]:
    rows = db.execute(
        "SELECT event_id, name, data FROM inbox WHERE instance_id = ? ORDER BY event_id", (key,)
    ).fetchall()
    return tuple(InboxEvent(_s(e), _s(n), bytes(d)) for e, n, d in rows)


class _Rows(NamedTuple):
    """The stored header columns that decide an instance's ``waits`` and ``children`` rows
    (all None when nothing is stored): rows exist only while the instance is paused."""

    status: str | None
    events: str | None  # JSON list, as written by `_write`
    children: str | None
    children_mode: str | None

    @property
    def waits(self) -> str | None:
        return self.events if self.status == "paused" and self.events != "[]" else "[]"

    @property
    def awaited(self) -> tuple[str | None, str | None] | None:
        if self.status != "paused" or self.children == "[]":
            return None
        return self.children, self.children_mode


def _claim(db: sqlite3.Connection, key: bytes, owner: bytes, now: int, until: int) -> bool:
    """Take or renew the lease unless another owner holds one that has not expired: one
    conditional upsert (a write batch's statements each cost its thread the GIL twice)."""
    return db.execute(CLAIM, (key, owner, until, now)).rowcount > 0


_HISTORY_ROWS = 100  # audit entries per INSERT statement (two parameters each)


class SQLiteStateStore(StateStore):
    """A store in one SQLite database file: snapshots, headers (as indexed columns), event
    inboxes and audit histories, in WAL mode (see the module docstring for the schema).

    Safe across threads and across processes: each write is one ``BEGIN IMMEDIATE``
    transaction, so `commit`'s compare-and-set on ``seq`` holds between processes sharing the
    file. A store object keeps one connection, used by one thread at a time under a lock;
    SQLite serialises writers anyway, and one connection per store makes `close` close
    everything and leaves nothing behind in the short-lived worker threads of anyio.

    ``synchronous="FULL"`` (default): durable when `commit`/`publish` return.
    ``synchronous="NORMAL"``: faster; a power loss may lose the last transactions (never
    corrupts the database). ``timeout``: seconds to wait for another writer's lock.
    ``keep_checkpoints``: superseded checkpoints kept per instance (0: none).
    """

    blocking = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        timeout: float = 30.0,
        keep_checkpoints: int = DEFAULT_KEEP_CHECKPOINTS,
    ) -> None:
        """Open (or create) the database at ``path``; its folder must exist."""
        self.keep_checkpoints = check_keep(keep_checkpoints)
        level = str(synchronous).upper()
        if level not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        self._path = pathlib.Path(path).absolute()
        self._synchronous = level
        self._timeout = timeout
        self._lock = threading.Lock()  # one thread at a time on the writing connection
        self._db: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()  # one thread at a time on the reading connection
        self._reader: sqlite3.Connection | None = None
        self._reader_pid = os.getpid()
        self._group: GroupCommit[sqlite3.Connection] = GroupCommit(self._run_batch)
        self._pid = os.getpid()
        self._closed = False
        with self._lock:
            self._connect()

    @property
    def path(self) -> pathlib.Path:
        """The database file (absolute)."""
        return self._path

    @property
    def synchronous(self) -> str:
        return self._synchronous

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._path)!r})"

    # -- connection and schema ------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        """Open the connection, set it up and bring the schema to `SCHEMA_VERSION`."""
        with self._errors("open the store"):
            db = sqlite3.connect(
                self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            try:
                self._version(db)  # reads the header: refuses garbage and foreign databases
                db.execute("PRAGMA journal_mode = WAL")  # only once the file is known to be ours
                db.execute(f"PRAGMA synchronous = {self._synchronous}")
                self._migrate(db)
            except BaseException:
                db.close()
                raise
        self._db = db
        return db

    def _version(self, db: sqlite3.Connection) -> int:
        """The schema version of the database; `StoreError` if it is not a durable store or
        one newer than this code knows."""
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        app = int(db.execute("PRAGMA application_id").fetchone()[0])
        if app not in (0, APPLICATION_ID):
            raise StoreError(
                f"{self._path} is an SQLite database of another application "
                f"(application_id {app:#x}), not a durable store"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the SQLite store {self._path} has schema version {version}, newer than "
                f"this version of durable knows ({SCHEMA_VERSION}): upgrade durable"
            )
        if version == 0 and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise StoreError(
                f"{self._path} is an SQLite database with tables of its own, not a durable store"
            )
        return version

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Run the steps of `MIGRATIONS` from the stored version on, under the write lock (a
        process opening the file at the same moment waits, then finds nothing to do)."""
        db.execute("BEGIN IMMEDIATE")
        try:
            version = self._version(db)
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    db.execute(statement)
            if version < SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _errors(self, action: str, instance_id: str | None = None) -> Iterator[None]:
        """Turn every `sqlite3.Error` into a `StoreError` naming the instance and the file."""
        try:
            yield
        except sqlite3.Error as e:
            whom = "" if instance_id is None else f" of instance {_short_repr(instance_id)}"
            hint = ""
            if isinstance(e, sqlite3.DatabaseError) and not isinstance(
                e, sqlite3.OperationalError | sqlite3.IntegrityError
            ):
                hint = (
                    "; the file was left as it is: restore it from a backup, or move it away "
                    "to start afresh"
                )
            raise StoreError(f"cannot {action}{whom}: SQLite store {self._path}: {e}{hint}") from e

    @contextlib.contextmanager
    def _transaction(
        self, action: str, instance_id: str | None = None, *, write: bool = False
    ) -> Iterator[sqlite3.Connection]:
        """One read transaction on the reading connection (``write=True``: on the writing
        connection, for migrations and checks); rolled back or committed when the block ends."""
        lock = self._lock if write else self._read_lock
        with lock, self._errors(action, instance_id):
            db = self._connection() if write else self._reading_connection()
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
            try:
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise

    def _batched(
        self,
        action: str,
        instance_id: str | None,
        body: Callable[[sqlite3.Connection], T],
        *,
        durable: bool = True,
    ) -> T:
        """Run ``body`` in a write transaction, batched with the writes queued meanwhile
        (group commit: module docstring); its result once the batch has committed.

        ``durable=False`` (leases): the write need not survive a power loss, so a batch of
        only such writes commits with ``synchronous=NORMAL`` (no fsync; the next durable
        commit syncs the WAL, these frames included)."""
        return self._group.submit(Write(action, instance_id, body, durable=durable))

    def _run_batch(self, batch: list[Write[sqlite3.Connection, Any]]) -> None:
        """Every write of ``batch`` in one transaction, on the writing connection."""
        try:
            with self._lock, self._errors(f"commit a batch of {len(batch)} write(s)"):
                db = self._connection()
                relaxed = self._synchronous == "FULL" and not any(j.durable for j in batch)
                if relaxed:
                    db.execute("PRAGMA synchronous = NORMAL")
                db.execute("BEGIN IMMEDIATE")
                try:
                    if len(batch) == 1:
                        self._run_one(db, batch[0], alone=True)
                    elif not self._run_straight(db, batch):
                        # one write failed: start again, each write in a savepoint of its own
                        db.execute("ROLLBACK")
                        db.execute("BEGIN IMMEDIATE")
                        for job in batch:
                            self._run_one(db, job, alone=False)
                    db.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                    raise
                finally:
                    if relaxed:
                        db.execute(f"PRAGMA synchronous = {self._synchronous}")
        except BaseException as e:
            for job in batch:
                job.fail(e)

    def _run_straight(
        self, db: sqlite3.Connection, batch: list[Write[sqlite3.Connection, Any]]
    ) -> bool:
        """Every write of `batch`, without savepoints (two statements per write saved in the
        common case, where none fails); False once one fails. The bodies only touch the
        database, so after a rollback they can run again. Rejected: a savepoint per write
        always (it cost a batch of pauses a fifth of its statements)."""
        for job in batch:
            try:
                with self._errors(job.action, job.instance_id):
                    job.result = job.body(db)
            except Exception:
                for each in batch:
                    each.result = None
                return False
        return True

    def _run_one(
        self, db: sqlite3.Connection, job: Write[sqlite3.Connection, Any], *, alone: bool
    ) -> None:
        """One write of a batch, in a savepoint of its own unless it is alone (then its
        error rolls back the transaction)."""
        if alone:
            with self._errors(job.action, job.instance_id):
                job.result = job.body(db)
            return
        db.execute("SAVEPOINT write")
        try:
            with self._errors(job.action, job.instance_id):
                job.result = job.body(db)
        except Exception as e:
            db.execute("ROLLBACK TO write")
            job.error = e
        db.execute("RELEASE write")

    def _connection(self) -> sqlite3.Connection:
        """The open writing connection; a new one in a forked child (a connection must not
        cross a fork)."""
        if self._closed:
            raise StoreError(f"the SQLite store {self._path} is closed")
        if self._db is None or self._pid != os.getpid():
            self._pid = os.getpid()
            return self._connect()
        return self._db

    def _reading_connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"the SQLite store {self._path} is closed")
        if self._reader is None or self._reader_pid != os.getpid():
            # (after a fork the writing connection reconnects on its own next use)
            self._reader_pid = os.getpid()
            reader = sqlite3.connect(
                self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            reader.execute("PRAGMA query_only = ON")
            self._reader = reader
        return self._reader

    def check(self) -> None:
        """Run SQLite's full integrity check; raise `StoreError` if the file is damaged."""
        with self._transaction("check the database") as db:
            problems = [row[0] for row in db.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise StoreError(
                f"the SQLite store {self._path} is damaged: " + "; ".join(problems[:5])
            )

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._closed = True
            connections = (self._db, self._reader)
            self._db = self._reader = None
            for db, pid in zip(connections, (self._pid, self._reader_pid), strict=True):
                if db is not None and pid == os.getpid():
                    with self._errors("close the store"):
                        db.close()

    # -- the four operations --------------------------------------------------------------------

    def read(self, instance_id: str) -> StoredInstance:
        key = _b(_check_id(instance_id))
        with self._transaction("read", instance_id, write=False) as db:
            return self._read_in(db, instance_id, key)

    def _read_in(self, db: sqlite3.Connection, instance_id: str, key: bytes) -> StoredInstance:
        row = db.execute(READ_INSTANCE, (key,)).fetchone()
        if row is None:
            return StoredInstance(None, None, _inbox_in(db, key))
        header = self._header(instance_id, row[1])
        return StoredInstance(header, bytes(row[0]), _inbox_in(db, key))

    def read_inbox(self, instance_id: str) -> tuple[InboxEvent, ...]:
        key = _b(_check_id(instance_id))
        with self._transaction("read the inbox", instance_id, write=False) as db:
            return _inbox_in(db, key)

    def claim_read(
        self, instance_id: str, owner: str, now: datetime, until: datetime
    ) -> StoredInstance | None:
        """`claim` and `read` in one trip: the claim's write batch reads the instance too."""
        key = _b(_check_id(instance_id))
        by = _b(check_lease_args(owner, now, until))
        at, end = micros(now), micros(until)

        def body(db: sqlite3.Connection) -> StoredInstance | None:
            if not _claim(db, key, by, at, end):
                return None
            return self._read_in(db, instance_id, key)

        return self._batched("claim", instance_id, body, durable=False)

    def _header(self, instance_id: str, raw: bytes | None) -> InstanceHeader | None:
        if raw is None:
            return None
        text = bytes(raw).decode("utf-8", "surrogatepass")
        return parse_header(instance_id, text, f"SQLite store {self._path}")

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
        return self._commit(instance_id, expected_seq, header, data, consumed, history, owner, None)

    def commit_unless(
        self,
        instance_id: str,
        expected_seq: int,
        header: InstanceHeader,
        data: bytes,
        consumed: Collection[str] = (),
        history: Sequence[bytes] = (),
        *,
        owner: str | None = None,
        unless: Callable[[tuple[InboxEvent, ...]], T | None],
    ) -> T | bool:
        """`commit`, unless ``unless(inbox)`` says the wait resolves: the inbox is read in the
        commit's own write transaction (one trip, and no event can slip in between)."""
        return self._commit(
            instance_id, expected_seq, header, data, consumed, history, owner, unless
        )

    def _commit(
        self,
        instance_id: str,
        expected_seq: int,
        header: InstanceHeader,
        data: bytes,
        consumed: Collection[str],
        history: Sequence[bytes],
        owner: str | None,
        unless: Callable[[tuple[InboxEvent, ...]], T | None] | None,
    ) -> T | bool:
        instance_id = _check_id(instance_id)
        _check_header(header)
        snapshot = _as_bytes(data, "snapshot")
        key = _b(instance_id)
        gone = [(key, _b(_check_event_id(e))) for e in consumed]
        entries = [_check_history_entry(entry) for entry in history]
        by = None if owner is None else _b(owner)

        def body(db: sqlite3.Connection) -> T | bool:
            if unless is not None:
                found = unless(_inbox_in(db, key))
                if found is not None:
                    return found
            # one statement for the lease holder and the stored header's columns
            holder, seq, *before = db.execute(CURRENT, (key, key)).fetchone()
            if by is not None and holder not in (None, by):
                return False  # another worker took the instance over
            if seq is None:  # no instance (0), or a snapshot saved through `save`
                seq = self._seq(db, key)
            if seq != expected_seq:
                return False
            self._retain(db, key, expected_seq)
            self._write(db, key, header, snapshot, _Rows(*before))
            if gone:
                db.executemany("DELETE FROM inbox WHERE instance_id = ? AND event_id = ?", gone)
            self._append(db, key, entries)
            if by is not None and header.status != "running" and holder is not None:
                db.execute("DELETE FROM leases WHERE instance_id = ?", (key,))
            return True

        return self._batched("save the snapshot", instance_id, body)

    def _retain(self, db: sqlite3.Connection, key: bytes, superseded: int) -> None:
        """Keep checkpoint `superseded` and the ones before it, `keep_checkpoints` in all
        (seqs grow by one per commit, so the oldest kept is ``superseded - keep + 1``)."""
        if self.keep_checkpoints and superseded:
            db.execute(RETAIN, (key,))
        db.execute(
            "DELETE FROM checkpoints WHERE instance_id = ? AND seq <= ?",
            (key, superseded - self.keep_checkpoints),
        )

    def checkpoints(self, instance_id: str) -> list[tuple[InstanceHeader, bytes]]:
        key = _b(_check_id(instance_id))
        with self._transaction("read the checkpoints", instance_id, write=False) as db:
            rows = db.execute(
                "SELECT header, data FROM checkpoints WHERE instance_id = ? ORDER BY seq DESC "
                "LIMIT ?",
                (key, self.keep_checkpoints),
            ).fetchall()
        found = [(self._header(instance_id, raw), bytes(data)) for raw, data in reversed(rows)]
        return [(h, data) for h, data in found if h is not None]

    def _seq(self, db: sqlite3.Connection, key: bytes) -> int:
        row = db.execute("SELECT seq FROM instances WHERE id = ?", (key,)).fetchone()
        if row is None:
            return 0
        if row[0] is not None:
            return int(row[0])
        # a snapshot saved through `save`, without a header: its seq is in its JSON
        snap = db.execute("SELECT data FROM snapshots WHERE id = ?", (key,)).fetchone()
        return _legacy_seq(None if snap is None else bytes(snap[0]))

    def _write(
        self,
        db: sqlite3.Connection,
        key: bytes,
        header: InstanceHeader | None,
        snapshot: bytes,
        before: _Rows | None = None,
    ) -> None:
        """Upsert the snapshot and the header columns; rewrite ``waits`` and ``children``
        unless `before` (the stored header's columns) shows they hold these rows already
        (a loop that waits for the same event again writes neither)."""
        db.execute(UPSERT_SNAPSHOT, (key, snapshot))
        if header is None:
            db.execute("DELETE FROM waits WHERE instance_id = ?", (key,))
            db.execute("DELETE FROM children WHERE instance_id = ?", (key,))
            db.execute(UPSERT_INSTANCE, (key, *[None] * 13))
            return
        after = _Rows(
            header.status,
            json.dumps(list(header.events)),
            json.dumps(list(header.children)),
            header.children_mode,
        )
        db.execute(
            UPSERT_INSTANCE,
            (
                key,
                header.seq,
                header.status,
                _b(header.program),
                _micros(header.wake_at),
                header.children_mode,
                _b_or_none(header.parent),
                _b_or_none(header.lease_owner),
                _micros(header.lease_until),
                _micros(header.created_at),
                _micros(header.updated_at),
                after.events,
                after.children,
                header.to_json(),
            ),
        )
        paused = header.status == "paused"
        if before is None or before.waits != after.waits:
            db.execute("DELETE FROM waits WHERE instance_id = ?", (key,))
            if paused:
                db.executemany(
                    "INSERT OR IGNORE INTO waits (instance_id, name) VALUES (?, ?)",
                    [(key, _b(name)) for name in header.events],
                )
        if before is None or before.awaited != after.awaited:
            db.execute("DELETE FROM children WHERE instance_id = ?", (key,))
            if paused:
                first = int(header.children_mode == "first")
                db.executemany(
                    "INSERT INTO children (instance_id, position, child_id, first) "
                    "VALUES (?, ?, ?, ?)",
                    [(key, n, _b(child), first) for n, child in enumerate(header.children)],
                )

    def _append(self, db: sqlite3.Connection, key: bytes, entries: Sequence[bytes]) -> None:
        # one statement for up to `_HISTORY_ROWS` entries, in their order (rowids grow)
        for start in range(0, len(entries), _HISTORY_ROWS):
            chunk = entries[start : start + _HISTORY_ROWS]
            db.execute(
                "INSERT INTO history (instance_id, entry) VALUES "
                + ", ".join(["(?, ?)"] * len(chunk)),
                [value for entry in chunk for value in (key, entry)],
            )

    def publish(
        self,
        instance_id: str,
        event_id: str,
        name: str,
        data: bytes,
        history: Sequence[bytes] = (),
    ) -> None:
        instance_id = _check_id(instance_id)
        event_id = _check_event_id(event_id)
        if not isinstance(name, str):
            raise TypeError(f"event name must be a str, got {type(name).__qualname__}")
        event = _as_bytes(data, "event data")
        entries = [_check_history_entry(entry) for entry in history]
        key = _b(instance_id)

        def body(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO inbox (instance_id, event_id, name, data) "
                "VALUES (?, ?, ?, ?)",
                (key, _b(event_id), _b(name), event),
            )
            self._append(db, key, entries)

        self._batched("add an event", instance_id, body)

    def ready(self, now: datetime, limit: int = 100) -> list[str]:
        """Paused instances whose wait resolves at ``now`` (`durable._model.is_ready`), oldest
        update first: indexed queries over the header columns, ``waits``, ``children`` and
        the inbox names; no snapshot is read. Snapshots saved without a header are left out."""
        if limit <= 0:
            return []
        params = {"now": _micros(now), "cancel": _b(CANCEL_EVENT), "limit": limit}
        with self._transaction("find the ready instances", write=False) as db:
            rows = db.execute(READY, params).fetchall()
        return [_s(row[0]) for row in rows]

    # -- leases ---------------------------------------------------------------------------------

    def claim(self, instance_id: str, owner: str, now: datetime, until: datetime) -> bool:
        key = _b(_check_id(instance_id))
        by = _b(check_lease_args(owner, now, until))
        at, end = micros(now), micros(until)
        return self._batched(
            "claim", instance_id, lambda db: _claim(db, key, by, at, end), durable=False
        )

    def renew(self, instance_id: str, owner: str, until: datetime) -> bool:
        key = _b(_check_id(instance_id))
        by, end = _b(check_lease_args(owner, until, until)), micros(until)
        return self._batched(
            "renew the lease",
            instance_id,
            lambda db: (
                db.execute(
                    "UPDATE leases SET until = ? WHERE instance_id = ? AND owner = ?",
                    (end, key, by),
                ).rowcount
                > 0
            ),
            durable=False,
        )

    def release(self, instance_id: str, owner: str) -> None:
        key, by = _b(_check_id(instance_id)), _b(owner)
        self._batched(
            "release",
            instance_id,
            lambda db: db.execute(
                "DELETE FROM leases WHERE instance_id = ? AND owner = ?", (key, by)
            ),
            durable=False,
        )

    def lease(self, instance_id: str) -> Lease | None:
        key = _b(_check_id(instance_id))
        with self._transaction("read the lease", instance_id) as db:
            row = db.execute(
                "SELECT owner, until FROM leases WHERE instance_id = ?", (key,)
            ).fetchone()
        return None if row is None else Lease(_s(row[0]), from_micros(row[1]))

    def claim_ready(
        self,
        now: datetime,
        owner: str,
        until: datetime,
        limit: int = 100,
        *,
        programs: Collection[str] | None = None,
    ) -> list[str]:
        """`ready`, the roots of what it finds, and `claim`, in one write transaction."""
        by = _b(check_lease_args(owner, now, until))
        if limit <= 0:
            return []
        at, end = micros(now), micros(until)
        params = {"now": at, "cancel": _b(CANCEL_EVENT), "limit": limit}

        def body(db: sqlite3.Connection) -> list[str]:
            found = [_s(row[0]) for row in db.execute(READY, params).fetchall()]
            roots = roots_of(found, lambda i: self._header_in(db, i))
            wanted = [i for i, program in roots if programs is None or program in programs]
            return [i for i in wanted if _claim(db, _b(i), by, at, end)]

        return self._batched("claim the ready instances", None, body, durable=False)

    def _header_in(self, db: sqlite3.Connection, instance_id: str) -> InstanceHeader | None:
        row = db.execute("SELECT header FROM instances WHERE id = ?", (_b(instance_id),))
        found = row.fetchone()
        return None if found is None else self._header(instance_id, found[0])

    def read_header(self, instance_id: str) -> InstanceHeader | None:
        key = _b(_check_id(instance_id))
        with self._transaction("read the header", instance_id, write=False) as db:
            row = db.execute("SELECT header FROM instances WHERE id = ?", (key,)).fetchone()
        return None if row is None else self._header(instance_id, row[0])

    # -- the seed contract and the rest ---------------------------------------------------------

    def load(self, instance_id: str) -> bytes | None:
        key = _b(_check_id(instance_id))
        with self._transaction("load the snapshot", instance_id, write=False) as db:
            row = db.execute("SELECT data FROM snapshots WHERE id = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def save(self, instance_id: str, data: bytes) -> None:
        """Replace the snapshot alone (the seed contract): its header is dropped."""
        instance_id = _check_id(instance_id)
        snapshot = _as_bytes(data, "snapshot")
        key = _b(instance_id)
        self._batched(
            "save the snapshot", instance_id, lambda db: self._write(db, key, None, snapshot)
        )

    def add_event(self, instance_id: str, event_id: str, data: bytes) -> None:
        """Add an event whose name is in its data (the seed contract: JSON with ``name``)."""
        instance_id = _check_id(instance_id)
        event_id = _check_event_id(event_id)
        copy = _as_bytes(data, "event data")
        self.publish(instance_id, event_id, _event_name(instance_id, event_id, copy), copy)

    def list_events(self, instance_id: str) -> list[tuple[str, bytes]]:
        return [(e.id, e.data) for e in self.read(instance_id).inbox]

    def delete_events(self, instance_id: str, event_ids: Collection[str]) -> None:
        key = _b(_check_id(instance_id))
        ids = [(key, _b(_check_event_id(e))) for e in event_ids]
        if not ids:
            return
        self._batched(
            "delete events",
            instance_id,
            lambda db: db.executemany(
                "DELETE FROM inbox WHERE instance_id = ? AND event_id = ?", ids
            ),
        )

    def append_history(self, instance_id: str, entry: bytes) -> None:
        self.append_history_many(instance_id, [entry])

    def append_history_many(self, instance_id: str, entries: Sequence[bytes]) -> None:
        key = _b(_check_id(instance_id))
        copies = [_check_history_entry(entry) for entry in entries]
        if not copies:
            return
        self._batched(
            "append to the history", instance_id, lambda db: self._append(db, key, copies)
        )

    def read_history(self, instance_id: str) -> list[bytes]:
        key = _b(_check_id(instance_id))
        with self._transaction("read the history", instance_id, write=False) as db:
            rows = db.execute(
                "SELECT entry FROM history WHERE instance_id = ? ORDER BY n", (key,)
            ).fetchall()
        return [bytes(row[0]) for row in rows]

    def delete(self, instance_id: str) -> bool:
        """Every row of ``instance_id`` in every table, in one write transaction (batched
        with concurrent writes: group commit). Rows of *other* instances that name it (a
        parent's ``children``) stay: they belong to that parent's header."""
        key = _b(_check_id(instance_id))

        def body(db: sqlite3.Connection) -> bool:
            found = False
            for table, column in INSTANCE_ROWS:
                cursor = db.execute(f"DELETE FROM {table} WHERE {column} = ?", (key,))
                found = cursor.rowcount > 0 or found
            return found

        return self._batched("delete", instance_id, body)

    def list_headers(
        self,
        status: str | None = None,
        program: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[tuple[str, InstanceHeader | None]]:
        """A page of headers, sorted by id (`StateStore.list_headers`): one query walking the
        primary key from ``after``, filtering on the header columns; no snapshot is read."""
        if limit <= 0:
            return []
        where = ["id >= ?" if after is None else "id > ?"]
        params: list[object] = [b"" if after is None else _b(after)]
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if program is not None:
            where.append("program = ?")
            params.append(_b(program))
        query = f"SELECT id, header FROM instances WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        with self._transaction("list the instances", write=False) as db:
            rows = db.execute(query, (*params, limit)).fetchall()
        return [(_s(key), self._header_or_none_from(_s(key), raw)) for key, raw in rows]

    def _header_or_none_from(self, instance_id: str, raw: bytes | None) -> InstanceHeader | None:
        try:
            return self._header(instance_id, raw)
        except StoreError:
            return None

    def list_instances(self) -> list[str]:
        with self._transaction("list the instances", write=False) as db:
            rows = db.execute("SELECT id FROM snapshots").fetchall()
        return sorted(_s(row[0]) for row in rows)
