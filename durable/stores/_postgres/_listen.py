"""`PostgresStateStore.listen`: ``LISTEN`` on a connection of its own, waiting for the socket
to be readable through anyio, so that it works on asyncio and trio alike.

The loop: connect (in a worker thread), ``LISTEN``, then wait until the socket is readable
(`anyio.wait_readable`), read what arrived without blocking (``pgconn.consume_input``) and
drain the notifications (``pgconn.notifies``), calling ``notify(instance_id)`` for each. A
lost connection (the socket reports EOF or an error; TCP keepalives find a silent peer) is
logged (``store.listen_lost``) and reopened after a backoff of 0.1 s doubling to 5 s; the
next successful ``LISTEN`` is logged (``store.listen_restored``). Notifications sent while
disconnected are lost: they are hints, and workers also poll `ready`.

Rejected design: psycopg's ``Connection.notifies()`` generator in a worker thread. It blocks
a thread per listener and cannot be cancelled promptly; waiting for readability on the event
loop costs no thread and is cancelled like any other await.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from ..._tracing import emit
from ...errors import StoreError
from . import _store

if TYPE_CHECKING:
    from psycopg import Connection

__all__ = ["listen_forever"]

_FIRST_BACKOFF = 0.1
_MAX_BACKOFF = 5.0
_KEEPALIVES = {  # a silent peer (lost network) is noticed within about 25 s
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
}


async def listen_forever(store: _store.PostgresStateStore, notify: Callable[[str], None]) -> None:
    backoff = _FIRST_BACKOFF
    lost = False
    while True:
        conn: Connection[Any] | None = None
        try:
            conn = await anyio.to_thread.run_sync(_connect, store)
            if lost:
                emit("store.listen_restored", schema=store.schema)
            lost, backoff = False, _FIRST_BACKOFF
            await _receive(store, conn, notify)
        except Exception as e:  # a lost connection: the driver's errors, OSError
            emit(
                "store.listen_lost",
                level="warning",
                schema=store.schema,
                error=repr(e),
                retry_in=backoff,
            )
            lost = True
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        await anyio.sleep(backoff)
        backoff = min(backoff * 2, _MAX_BACKOFF)


def _connect(store: _store.PostgresStateStore) -> Connection[Any]:
    import psycopg
    from psycopg.conninfo import make_conninfo

    dsn = make_conninfo(
        store.dsn, **_KEEPALIVES, **_store.application_name(store.dsn, store.schema)
    )
    conn = psycopg.Connection.connect(dsn, autocommit=True)
    try:
        conn.execute(f"LISTEN {_quoted_channel(store)}")
    except BaseException:
        conn.close()
        raise
    return conn


def _quoted_channel(store: _store.PostgresStateStore) -> str:
    from psycopg import sql

    return sql.Identifier(store.channel).as_string(None)


async def _receive(
    store: _store.PostgresStateStore, conn: Connection[Any], notify: Callable[[str], None]
) -> None:
    """Hand on notifications until the connection fails (then raise)."""
    import psycopg

    pgconn = conn.pgconn
    while True:
        while (note := pgconn.notifies()) is not None:
            await _deliver(store, note.extra.decode("utf-8", "replace"), notify)
        await anyio.wait_readable(conn.fileno())
        pgconn.consume_input()  # raises OperationalError on EOF: the server went away
        if pgconn.status != psycopg.pq.ConnStatus.OK:
            raise psycopg.OperationalError("the LISTEN connection was closed")


async def _deliver(
    store: _store.PostgresStateStore, payload: str, notify: Callable[[str], None]
) -> None:
    """Call ``notify`` for the instance a payload names (`_store.wake_payload`); a foreign
    payload names none."""
    if payload.startswith("x"):
        try:
            instance_id = bytes.fromhex(payload[1:]).decode("utf-8", "surrogatepass")
        except ValueError:  # UnicodeDecodeError included: not one of ours
            return
        notify(instance_id)
    elif payload.startswith("#"):  # rare: an id over LONG_ID bytes, looked up by its hash
        with contextlib.suppress(StoreError, ValueError):
            for instance_id in await anyio.to_thread.run_sync(store.ids_of_hash, payload[1:]):
                notify(instance_id)
