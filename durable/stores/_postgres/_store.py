"""`PostgresStateStore`: every instance in one PostgreSQL schema, shared by many processes
on many machines (psycopg 3, sync API, with a `psycopg_pool.ConnectionPool`).

Schema (version `SCHEMA_VERSION`, in the table ``<schema>.durable_version``)
=========================================================================

The tables of `_sql.MIGRATIONS` live in a schema of their own (``schema=``, "durable" by
default): ``instances`` (the header as columns, the header JSON and the snapshot bytes),
``inbox``, ``history``, ``waits`` and ``children`` (what a paused instance awaits, so that
`ready` is a few indexed queries that never read a snapshot), ``leases`` and
``checkpoints`` (the last ``keep_checkpoints`` superseded ones, retained by the commit that
supersedes them, on the server: their bytes never reach Python). Every id and
caller-given string is ``bytea`` (UTF-8 with surrogatepass: text cannot hold NUL or a lone
surrogate); times are ``bigint`` microseconds since the Unix epoch, UTC (exact, as in the
SQLite store). The store creates and migrates the schema when it opens, in one transaction
under ``pg_advisory_xact_lock``: two processes opening at once are safe (the second waits,
then finds nothing to do). A schema of a newer version, or one that holds tables but no
version table (not ours), is refused with `StoreError`; nothing is ever dropped or reset.

Writes and group commit
=======================

`commit` is one call of the server-side function ``commit_instance`` (one round trip): the
lease check, the compare-and-set on ``seq`` under the instance's row lock, the upsert,
``waits``/``children``, consumed events, history, the superseded checkpoint retained, the
lease released when the header is no longer running. Writes from many threads at once share
transactions (`_batch.GroupCommit`): one connection, one round trip (pipeline mode) and one
``COMMIT`` (one WAL flush) per batch; a write that fails fails alone (`_run_batch`). A write
returns after the ``COMMIT`` that holds it; if that fails, every write of the batch raises
`StoreError` (after a lost connection the outcome is unknown: a retried `commit` is safe, its
compare-and-set refuses a checkpoint that was saved). Reads take a pooled connection each and
run in autocommit: one statement, one consistent snapshot (`read` is one round trip).

Wake-ups: ``NOTIFY``
====================

`publish`, and a `commit` that finishes a child (to its parent), send ``NOTIFY`` on the
channel ``durable:<schema>``. The payload names the instance: ``x`` and the hex of its UTF-8
bytes, or for ids longer than `_sql.LONG_ID` bytes (a payload holds under 8000 bytes) ``#``
and its SHA-256, which `listen` maps back through a small partial index. `listen` holds a
connection of its own (module `_listen`).

Connections: pooled connections are checked before use, so after a server restart the
store reconnects by itself; operations during the outage raise `StoreError` (after the
pool's ``timeout``). A store object is for one process: open a new one after a fork.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import re
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..._model import CANCEL_EVENT, FINISHED, InstanceHeader
from ...errors import StoreError
from .._batch import GroupCommit, Write
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
    _short_repr,
    check_keep,
    check_lease_args,
    from_micros,
    micros,
    parse_header,
)
from . import _sql

if TYPE_CHECKING:
    from psycopg import Connection, Cursor
    from psycopg_pool import ConnectionPool

__all__ = ["PostgresStateStore"]

T = TypeVar("T")

INSTALL_HINT = "pip install 'durable-resume[postgres]'"
_ROLLBACK_RETRIES = 8  # a deadlock between two processes' batches is retried this often
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,54}")  # "durable:" + 55 < 64 bytes


def _b(text: str) -> bytes:
    """A string as stored: its UTF-8 bytes, lone surrogates included."""
    return text.encode("utf-8", "surrogatepass")


def _s(blob: bytes) -> str:
    return bytes(blob).decode("utf-8", "surrogatepass")


def _opt_micros(moment: datetime | None) -> int | None:
    return None if moment is None else micros(moment)


def wake_payload(instance_id: str) -> str:
    """The NOTIFY payload naming ``instance_id`` (module docstring)."""
    key = _b(instance_id)
    if len(key) > _sql.LONG_ID:
        return "#" + hashlib.sha256(key).hexdigest()
    return "x" + key.hex()


def check_schema(schema: object) -> str:
    if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(
            f"schema must be an identifier of letters, digits and _ (at most 55, not starting "
            f"with a digit), got {_short_repr(schema)}"
        )
    return schema


def describe(dsn: str) -> str:
    """The DSN without its password, for messages."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:
        return "<an unparsable DSN>"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


Fetch = Callable[[], T]  # what a write's body returns: reads its result once sent


def _flag(cursor: Cursor[Any]) -> Fetch[bool]:
    """The boolean a statement returns (``commit_instance``, the delete)."""
    return lambda: bool((row := cursor.fetchone()) and row[0])


def _any_row(cursor: Cursor[Any]) -> Fetch[bool]:
    """Whether a statement returned a row (a claim's upsert did)."""
    return lambda: cursor.fetchone() is not None


def _nothing(cursor: Cursor[Any]) -> Fetch[None]:
    """A statement whose errors are all its result (they surface at the commit)."""
    del cursor
    return lambda: None


def application_name(dsn: str, schema: str) -> dict[str, str]:
    """``durable:<schema>`` (what ``pg_stat_activity`` shows) unless the DSN names one."""
    from psycopg.conninfo import conninfo_to_dict

    return (
        {}
        if "application_name" in conninfo_to_dict(dsn)
        else {"application_name": f"durable:{schema}"}
    )


def _require_driver() -> None:
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"PostgresStateStore needs psycopg 3 and psycopg-pool: {INSTALL_HINT} ({e})"
        ) from e


class PostgresStateStore(StateStore):
    """A store in a PostgreSQL schema, shared by processes on any number of machines (module
    docstring): headers as indexed columns, leases, group commit, ``NOTIFY`` wake-ups.

    ``dsn``: a libpq connection string or URL (``postgresql://user@host:5432/db``).
    ``schema``: where the tables live (created if missing). ``min_size``/``max_size``: the
    connection pool. ``timeout``: seconds to wait for a connection before `StoreError`.
    ``keep_checkpoints``: superseded checkpoints kept per instance (0: none).
    """

    blocking = True
    listens = True

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "durable",
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 30.0,
        keep_checkpoints: int = DEFAULT_KEEP_CHECKPOINTS,
    ) -> None:
        _require_driver()
        from psycopg import sql
        from psycopg_pool import ConnectionPool

        self._schema = check_schema(schema)
        self.keep_checkpoints = check_keep(keep_checkpoints)
        self._dsn = dsn
        self._where = f"{describe(dsn)} (schema {schema})"
        self._timeout = timeout
        self._channel = f"durable:{schema}"
        self._quoted = sql.Identifier(schema).as_string(None)
        self._closed = False
        self._group: GroupCommit[Connection[Any]] = GroupCommit(self._run_batch)
        self._pool: ConnectionPool[Connection[Any]] = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True, **application_name(dsn, schema)},
            check=ConnectionPool.check_connection,
            open=False,
            name=f"durable:{schema}",
        )
        try:
            with self._errors("open the store"):
                self._pool.open(wait=True, timeout=timeout)
                self._migrate()
        except BaseException:
            self._pool.close()
            raise

    @property
    def schema(self) -> str:
        return self._schema

    @property
    def dsn(self) -> str:
        return self._dsn

    @property
    def location(self) -> str:
        """The server (without password) and schema, as messages name the store."""
        return self._where

    @property
    def channel(self) -> str:
        """The ``NOTIFY`` channel of this schema."""
        return self._channel

    def __repr__(self) -> str:
        return f"{type(self).__name__}({describe(self._dsn)!r}, schema={self._schema!r})"

    def q(self, template: str) -> str:
        """``template`` with ``{s}`` replaced by the quoted schema."""
        return template.replace("{s}", self._quoted)

    # -- schema ---------------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Bring the schema to `_sql.SCHEMA_VERSION` under an advisory lock (module docstring)."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (self._channel,))
            version = self._version(conn)
            for step in range(version, _sql.SCHEMA_VERSION):
                for statement in _sql.MIGRATIONS[step]:
                    conn.execute(self.q(statement).encode())
            if version < _sql.SCHEMA_VERSION:
                conn.execute(
                    self.q("UPDATE {s}.durable_version SET version = %s"),
                    (_sql.SCHEMA_VERSION,),
                )

    def _version(self, conn: Connection[Any]) -> int:
        """The schema's version (0: none yet, the schema and version table are created);
        `StoreError` for a foreign or newer schema."""
        row = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL, "
            "(SELECT count(*) FROM pg_class AS c JOIN pg_namespace AS n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s)",
            (f"{self._quoted}.durable_version", self._schema),
        ).fetchone()
        assert row is not None
        ours, relations = row
        if not ours:
            if relations:
                raise StoreError(
                    f"schema {self._schema!r} of {describe(self._dsn)} holds tables of its own "
                    f"but no durable_version table: not a durable store; pass another schema="
                )
            conn.execute(self.q("CREATE SCHEMA IF NOT EXISTS {s}").encode())
            conn.execute(
                self.q("CREATE TABLE {s}.durable_version (version integer NOT NULL)").encode()
            )
            conn.execute(self.q("INSERT INTO {s}.durable_version VALUES (0)").encode())
            return 0
        found = conn.execute(self.q("SELECT version FROM {s}.durable_version")).fetchall()
        if len(found) != 1:
            raise StoreError(f"the PostgreSQL store {self._where} has a damaged version table")
        version = int(found[0][0])
        if version > _sql.SCHEMA_VERSION:
            raise StoreError(
                f"the PostgreSQL store {self._where} has schema version {version}, newer than "
                f"this version of durable knows ({_sql.SCHEMA_VERSION}): upgrade durable"
            )
        return version

    # -- connections, errors, batches -----------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, action: str, instance_id: str | None = None) -> Iterator[None]:
        """Turn every driver error into a `StoreError` naming the instance and the store."""
        import psycopg

        try:
            yield
        except psycopg.Error as e:
            whom = "" if instance_id is None else f" of instance {_short_repr(instance_id)}"
            hint = ""
            if isinstance(e, psycopg.OperationalError):
                hint = (
                    "; is the server running and reachable? The store reconnects by itself: "
                    "retry (a write in flight may or may not have been saved; a retried "
                    "commit is safe)"
                )
            detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise StoreError(
                f"cannot {action}{whom}: PostgreSQL store {self._where}: {detail}{hint}"
            ) from e

    @contextlib.contextmanager
    def _reading(self, action: str, instance_id: str | None = None) -> Iterator[Connection[Any]]:
        """A pooled connection in autocommit for one read."""
        if self._closed:
            raise StoreError(f"the PostgreSQL store {self._where} is closed")
        with self._errors(action, instance_id), self._pool.connection() as conn:
            yield conn

    def _batched(
        self,
        action: str,
        instance_id: str | None,
        body: Callable[[Connection[Any]], Fetch[T]],
        *,
        durable: bool = True,
    ) -> T:
        """Run ``body`` (it sends its statements and returns what fetches the result) in a
        write transaction shared with concurrent writes (group commit); its result once the
        transaction committed. ``durable=False`` (leases, which need not survive a power
        loss): a batch of only such writes commits without waiting for the WAL flush
        (``synchronous_commit = off`` for that transaction; the next durable commit flushes
        it too)."""
        if self._closed:
            raise StoreError(f"the PostgreSQL store {self._where} is closed")
        # the batch runner stores what the fetcher returns (a T) as the write's result
        return cast(T, self._group.submit(Write(action, instance_id, body, durable=durable)))

    def _run_batch(self, batch: list[Write[Connection[Any], Any]]) -> None:
        """The writes of ``batch`` in a few transactions that lock rows in one order.

        Batches of two processes must not deadlock (PostgreSQL finds a deadlock only after
        ``deadlock_timeout``, a second by default, and rolls one back): lease writes go in a
        transaction of their own, sorted by instance id; each `claim_ready` alone (it locks
        instance rows, then their leases); the checkpoints and publishes, sorted by instance
        id, in another. Rejected: one transaction for the whole batch, which held a claimed
        lease row while it waited for an instance row another process's `claim_ready` held,
        and that one waited for the lease (measured: 38 deadlocks in 30 s with 4 workers)."""
        leases = sorted(
            (job for job in batch if not job.durable and job.instance_id is not None),
            key=lambda job: job.instance_id or "",
        )
        durable = sorted(
            (job for job in batch if job.durable), key=lambda job: job.instance_id or ""
        )
        alone = [[job] for job in batch if not job.durable and job.instance_id is None]
        for group in (leases, *alone, durable):
            if group:
                self._run_group(group)

    def _run_group(self, batch: list[Write[Connection[Any], Any]]) -> None:
        """Every write of ``batch`` in one transaction on one connection.

        A write's body sends its statement and returns what fetches its result, so a batch
        goes out in pipeline mode as one round trip, then ``COMMIT``. When one write fails,
        it has taken the transaction with it: the batch runs again with each write in a
        savepoint of its own, so that it fails alone and the others are saved. (Rejected: a
        savepoint per write on the first run; its result has to be read before the next
        write is sent, one round trip per write.) A durable write alone is one statement:
        atomic in autocommit, no BEGIN/COMMIT. A batch of only lease writes sets
        ``synchronous_commit = off`` for its transaction (`_batched`)."""
        import psycopg

        try:
            with (
                self._errors(f"commit a batch of {len(batch)} write(s)"),
                self._pool.connection() as conn,
            ):
                relaxed = not any(job.durable for job in batch)
                if len(batch) == 1 and not relaxed:
                    self._run_one(conn, batch[0], alone=True)
                    return
                try:
                    results = self._pipelined(conn, batch, relaxed)
                except psycopg.Error as e:
                    if isinstance(e, psycopg.OperationalError):
                        raise  # the connection is gone: the whole batch fails
                    with conn.pipeline(), conn.transaction():
                        if relaxed:
                            conn.execute("SET LOCAL synchronous_commit = off")
                        for job in batch:
                            self._run_one(conn, job, alone=len(batch) == 1)
                    return
                for job, result in zip(batch, results, strict=True):
                    job.result = result
        except BaseException as e:
            for job in batch:
                job.fail(e)

    def _pipelined(
        self, conn: Connection[Any], batch: list[Write[Connection[Any], Any]], relaxed: bool
    ) -> list[Any]:
        """The batch as one pipelined transaction; its results. A transaction the server
        rolled back whole — a deadlock with another process's batch (their rows locked in
        another order) or a serialization failure — saved nothing, so it runs again, up to
        `_ROLLBACK_RETRIES` times (then the batch fails); rejected: failing every write of
        it, which makes workers run blocks again for no reason."""
        import psycopg

        for attempt in range(_ROLLBACK_RETRIES + 1):
            try:
                with conn.pipeline(), conn.transaction():
                    if relaxed:
                        conn.execute("SET LOCAL synchronous_commit = off")
                    fetchers = [job.body(conn) for job in batch]
                    return [fetch() for fetch in fetchers]
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                if attempt == _ROLLBACK_RETRIES:
                    raise
                time.sleep(random.uniform(0, 0.002 * 2**attempt))
        raise AssertionError("unreachable")

    def _run_one(
        self, conn: Connection[Any], job: Write[Connection[Any], Any], *, alone: bool
    ) -> None:
        """One write, in a savepoint of its own unless it is alone (then its error rolls
        back the transaction)."""
        import psycopg

        if alone:  # one statement in autocommit: rolled back whole, so it may run again
            with self._errors(job.action, job.instance_id):
                for attempt in range(_ROLLBACK_RETRIES + 1):
                    try:
                        job.result = job.body(conn)()
                        return
                    except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                        if attempt == _ROLLBACK_RETRIES:
                            raise
                        time.sleep(random.uniform(0, 0.002 * 2**attempt))
            return

        try:
            with self._errors(job.action, job.instance_id), conn.transaction():
                job.result = job.body(conn)()
        except StoreError as e:
            if isinstance(e.__cause__, psycopg.OperationalError):
                raise  # the connection is gone: the whole batch fails
            job.error = e

    def close(self) -> None:
        self._closed = True
        with self._errors("close the store"):
            self._pool.close()

    # -- the four operations --------------------------------------------------------------------

    def read(self, instance_id: str) -> StoredInstance:
        key = _b(_check_id(instance_id))
        with self._reading("read", instance_id) as conn:
            row = conn.execute(self.q(_sql.READ), {"k": key}).fetchone()
        assert row is not None
        return self._stored(instance_id, row)

    def _stored(self, instance_id: str, row: tuple[Any, ...]) -> StoredInstance:
        """A `StoredInstance` from a row of `_sql.READ`."""
        raw, data, event_ids, names, datas = row
        if data is None:
            return StoredInstance(None, None, self._inbox(event_ids, names, datas))
        header = self._header(instance_id, raw)
        return StoredInstance(header, bytes(data), self._inbox(event_ids, names, datas))

    def read_inbox(self, instance_id: str) -> tuple[InboxEvent, ...]:
        key = _b(_check_id(instance_id))
        with self._reading("read the inbox", instance_id) as conn:
            rows = conn.execute(self.q(_sql.READ_INBOX), {"k": key}).fetchall()
        return tuple(InboxEvent(_s(e), _s(n), bytes(d)) for e, n, d in rows)

    @staticmethod
    def _inbox(
        event_ids: list[bytes], names: list[bytes], datas: list[bytes]
    ) -> tuple[InboxEvent, ...]:
        return tuple(
            InboxEvent(_s(e), _s(n), bytes(d))
            for e, n, d in zip(event_ids, names, datas, strict=True)
        )

    def _header(self, instance_id: str, raw: bytes | None) -> InstanceHeader | None:
        if raw is None:
            return None
        return parse_header(instance_id, _s(raw), f"PostgreSQL store {self._where}")

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
        instance_id = _check_id(instance_id)
        _check_header(header)
        wake = None
        if header.parent is not None and header.status in FINISHED:
            wake = wake_payload(header.parent)
        params = (
            _b(instance_id),
            expected_seq,
            None if owner is None else _b(owner),
            _as_bytes(data, "snapshot"),
            header.to_json(),
            header.seq,
            header.status,
            _b(header.program),
            _opt_micros(header.wake_at),
            header.children_mode,
            None if header.parent is None else _b(header.parent),
            micros(header.created_at),
            micros(header.updated_at),
            [_b(name) for name in header.events],
            [_b(child) for child in header.children],
            [_b(_check_event_id(e)) for e in consumed],
            [_check_history_entry(entry) for entry in history],
            self._channel,
            wake,
            self.keep_checkpoints,
        )
        statement = self.q(_sql.COMMIT)

        return self._batched(
            "save the snapshot", instance_id, lambda conn: _flag(conn.execute(statement, params))
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
        params = {
            "k": _b(instance_id),
            "event_id": _b(event_id),
            "name": _b(name),
            "data": _as_bytes(data, "event data"),
            "entries": [_check_history_entry(entry) for entry in history],
            "channel": self._channel,
            "wake": wake_payload(instance_id),
        }
        statement = self.q(_sql.PUBLISH)
        self._batched("add an event", instance_id, lambda c: _nothing(c.execute(statement, params)))

    def ready(self, now: datetime, limit: int = 100) -> list[str]:
        """Paused instances whose wait resolves at ``now`` (`durable._model.is_ready`), oldest
        update first: indexed queries, no snapshot read. Snapshots saved without a header are
        left out."""
        if limit <= 0:
            return []
        params = {"now": micros(now), "cancel": _b(CANCEL_EVENT), "limit": limit}
        with self._reading("find the ready instances") as conn:
            rows = conn.execute(self.q(_sql.READY), params).fetchall()
        return [_s(row[0]) for row in rows]

    # -- leases ---------------------------------------------------------------------------------

    def claim(self, instance_id: str, owner: str, now: datetime, until: datetime) -> bool:
        key = _b(_check_id(instance_id))
        params = {
            "k": key,
            "by": _b(check_lease_args(owner, now, until)),
            "now": micros(now),
            "until": micros(until),
        }
        statement = self.q(_sql.CLAIM)
        return self._batched(
            "claim",
            instance_id,
            lambda conn: _any_row(conn.execute(statement, params)),
            durable=False,
        )

    def renew(self, instance_id: str, owner: str, until: datetime) -> bool:
        params = {
            "k": _b(_check_id(instance_id)),
            "by": _b(check_lease_args(owner, until, until)),
            "until": micros(until),
        }
        statement = self.q(_sql.RENEW)
        return self._batched(
            "renew the lease",
            instance_id,
            lambda conn: _any_row(conn.execute(statement, params)),
            durable=False,
        )

    def claim_read(
        self, instance_id: str, owner: str, now: datetime, until: datetime
    ) -> StoredInstance | None:
        """`claim` and `read` on one connection, batched with concurrent writes: the read
        comes after the claim, so it sees every commit the previous owner made."""
        key = _b(_check_id(instance_id))
        params = {
            "k": key,
            "by": _b(check_lease_args(owner, now, until)),
            "now": micros(now),
            "until": micros(until),
        }
        claim, read = self.q(_sql.CLAIM), self.q(_sql.READ)

        def body(conn: Connection[Any]) -> Fetch[tuple[Any, ...] | None]:
            # two statements: the read takes its snapshot after the claim (READ COMMITTED),
            # so it sees a commit the claim waited for
            claimed = _any_row(conn.execute(claim, params))
            stored = conn.execute(read, {"k": key})
            return lambda: stored.fetchone() if claimed() else None

        row = self._batched("claim", instance_id, body, durable=False)
        return None if row is None else self._stored(instance_id, row)

    def release(self, instance_id: str, owner: str) -> None:
        params = (_b(_check_id(instance_id)), _b(owner))
        statement = self.q("DELETE FROM {s}.leases WHERE instance_id = %s AND owner = %s")
        self._batched(
            "release", instance_id, lambda c: _nothing(c.execute(statement, params)), durable=False
        )

    def lease(self, instance_id: str) -> Lease | None:
        key = _b(_check_id(instance_id))
        with self._reading("read the lease", instance_id) as conn:
            row = conn.execute(
                self.q("SELECT owner, until FROM {s}.leases WHERE instance_id = %s"), (key,)
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
        """`ready`, the roots of what it finds, and `claim`, in one statement with ``FOR
        UPDATE SKIP LOCKED`` (`_sql.CLAIM_READY`)."""
        by = _b(check_lease_args(owner, now, until))
        if limit <= 0:
            return []
        params = {
            "now": micros(now),
            "cancel": _b(CANCEL_EVENT),
            "limit": limit,
            "by": by,
            "until": micros(until),
            "programs": None if programs is None else [_b(p) for p in programs],
        }
        statement = self.q(_sql.CLAIM_READY)

        def body(conn: Connection[Any]) -> Fetch[list[str]]:
            cursor = conn.execute(statement, params)
            return lambda: [_s(row[0]) for row in cursor.fetchall()]

        return self._batched("claim the ready instances", None, body, durable=False)

    # -- retained checkpoints, deleting -------------------------------------------------------

    def checkpoints(self, instance_id: str) -> list[tuple[InstanceHeader, bytes]]:
        key = _b(_check_id(instance_id))
        with self._reading("read the checkpoints", instance_id) as conn:
            rows = conn.execute(
                self.q(
                    "SELECT header, data FROM {s}.checkpoints WHERE instance_id = %s "
                    "ORDER BY seq DESC LIMIT %s"
                ),
                (key, self.keep_checkpoints),
            ).fetchall()
        found = [(self._header(instance_id, raw), bytes(data)) for raw, data in reversed(rows)]
        return [(h, data) for h, data in found if h is not None]

    def checkpoint(self, instance_id: str, seq: int) -> tuple[InstanceHeader, bytes] | None:
        key = _b(_check_id(instance_id))
        with self._reading("read a checkpoint", instance_id) as conn:
            row = conn.execute(self.q(_sql.CHECKPOINT), {"k": key, "seq": seq}).fetchone()
        header = None if row is None else self._header(instance_id, row[0])
        return None if row is None or header is None else (header, bytes(row[1]))

    def delete(self, instance_id: str) -> bool:
        """Every row of ``instance_id`` in every table, in one statement (batched with
        concurrent writes)."""
        key = _b(_check_id(instance_id))
        statement = self.q(_sql.DELETE)

        return self._batched(
            "delete", instance_id, lambda conn: _flag(conn.execute(statement, {"k": key}))
        )

    # -- wake-ups -------------------------------------------------------------------------------

    async def listen(self, notify: Callable[[str], None]) -> None:
        """``LISTEN`` on this schema's channel on a connection of its own and call
        ``notify(instance_id)`` for every notification, until cancelled; reconnects with
        backoff after a lost connection (module `_listen`)."""
        from ._listen import listen_forever

        await listen_forever(self, notify)

    def ids_of_hash(self, digest: str) -> list[str]:
        """The ids whose SHA-256 is ``digest`` (hex): long ids named in notifications."""
        with self._reading("map a notification to its instance") as conn:
            rows = conn.execute(
                self.q(
                    f"SELECT id FROM {{s}}.instances WHERE length(id) > {_sql.LONG_ID} "
                    f"AND sha256(id) = %(h)s UNION SELECT instance_id FROM {{s}}.inbox "
                    f"WHERE length(instance_id) > {_sql.LONG_ID} AND sha256(instance_id) = %(h)s"
                ),
                {"h": bytes.fromhex(digest)},
            ).fetchall()
        return [_s(row[0]) for row in rows]

    # -- the seed contract and the rest ---------------------------------------------------------

    def read_header(self, instance_id: str) -> InstanceHeader | None:
        key = _b(_check_id(instance_id))
        with self._reading("read the header", instance_id) as conn:
            row = conn.execute(
                self.q("SELECT header FROM {s}.instances WHERE id = %s"), (key,)
            ).fetchone()
        return None if row is None else self._header(instance_id, row[0])

    def load(self, instance_id: str) -> bytes | None:
        key = _b(_check_id(instance_id))
        with self._reading("load the snapshot", instance_id) as conn:
            row = conn.execute(
                self.q("SELECT data FROM {s}.instances WHERE id = %s"), (key,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def save(self, instance_id: str, data: bytes) -> None:
        """Replace the snapshot alone (the seed contract): its header is dropped."""
        instance_id = _check_id(instance_id)
        params = {"k": _b(instance_id), "data": _as_bytes(data, "snapshot")}
        statement = self.q(_sql.SAVE)
        self._batched(
            "save the snapshot", instance_id, lambda c: _nothing(c.execute(statement, params))
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
        ids = [_b(_check_event_id(e)) for e in event_ids]
        if not ids:
            return
        statement = self.q("DELETE FROM {s}.inbox WHERE instance_id = %s AND event_id = ANY(%s)")
        self._batched(
            "delete events", instance_id, lambda c: _nothing(c.execute(statement, (key, ids)))
        )

    def append_history(self, instance_id: str, entry: bytes) -> None:
        self.append_history_many(instance_id, [entry])

    def append_history_many(self, instance_id: str, entries: Sequence[bytes]) -> None:
        key = _b(_check_id(instance_id))
        copies = [_check_history_entry(entry) for entry in entries]
        if not copies:
            return
        statement = self.q(
            "INSERT INTO {s}.history (instance_id, entry) SELECT %s, x "
            "FROM unnest(%s::bytea[]) WITH ORDINALITY AS t(x, n) ORDER BY n"
        )
        self._batched(
            "append to the history",
            instance_id,
            lambda c: _nothing(c.execute(statement, (key, copies))),
        )

    def read_history(self, instance_id: str) -> list[bytes]:
        key = _b(_check_id(instance_id))
        with self._reading("read the history", instance_id) as conn:
            rows = conn.execute(
                self.q("SELECT entry FROM {s}.history WHERE instance_id = %s ORDER BY n"), (key,)
            ).fetchall()
        return [bytes(row[0]) for row in rows]

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
        params = {
            "after": None if after is None else _b(after),
            "status": status,
            "program": None if program is None else _b(program),
            "limit": limit,
        }
        query = self.q(
            "SELECT id, header FROM {s}.instances WHERE (%(after)s::bytea IS NULL OR id > "
            "%(after)s::bytea) AND (%(status)s::text IS NULL OR status = %(status)s::text) "
            "AND (%(program)s::bytea IS NULL OR program = %(program)s::bytea) "
            "ORDER BY id LIMIT %(limit)s"
        )
        with self._reading("list the instances") as conn:
            rows = conn.execute(query, params).fetchall()
        return [(_s(key), self._header_or_none_from(_s(key), raw)) for key, raw in rows]

    def _header_or_none_from(self, instance_id: str, raw: bytes | None) -> InstanceHeader | None:
        try:
            return self._header(instance_id, raw)
        except StoreError:
            return None

    def list_instances(self) -> list[str]:
        with self._reading("list the instances") as conn:
            rows = conn.execute(self.q("SELECT id FROM {s}.instances")).fetchall()
        return sorted(_s(row[0]) for row in rows)
