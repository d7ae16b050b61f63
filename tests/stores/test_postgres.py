"""`PostgresStateStore` beyond the shared contract and lease suites (which run on it through
the ``store`` fixture): its schema (versions, foreign and newer schemas refused, two processes
creating it at once), lost connections and a server restart, ``LISTEN``/``NOTIFY`` across
processes on asyncio and trio, claims from several processes, group commit under many
threads, and the CLI with a ``postgresql://`` store."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import anyio
import pytest
from psycopg.conninfo import make_conninfo
from storekit import POSTGRES_DSN, PostgresAdmin
from test_contract import T0, ev, header, snap

import durable
from durable import DurableBackend, PostgresStateStore, StoreError, Worker
from durable.stores._postgres import _sql
from durable.testing import capture_events

REPO = pathlib.Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO)])}
LATER = T0 + timedelta(seconds=30)
FAST_DSN = make_conninfo(POSTGRES_DSN, options="-c synchronous_commit=off")  # as in conftest


@pytest.fixture
def admin(postgres_admin: PostgresAdmin) -> PostgresAdmin:
    return postgres_admin


@pytest.fixture
def opened(postgres_schema: str) -> Iterator[PostgresStateStore]:
    store = PostgresStateStore(FAST_DSN, schema=postgres_schema, timeout=5)
    yield store
    store.close()


def run_python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# ------------------------------------------------------------------------------------------
# The schema
# ------------------------------------------------------------------------------------------


def test_a_new_schema_has_the_current_version_and_is_reopened_as_is(
    admin: PostgresAdmin, postgres_schema: str
) -> None:
    store = PostgresStateStore(POSTGRES_DSN, schema=postgres_schema)
    assert store.commit("i", 0, header(1), snap(1))
    store.close()
    version = admin.execute(f"SELECT version FROM {postgres_schema}.durable_version").fetchall()
    assert version == [(_sql.SCHEMA_VERSION,)]
    again = PostgresStateStore(POSTGRES_DSN, schema=postgres_schema)
    assert again.read("i").seq == 1
    assert repr(again) == (
        f"PostgresStateStore('postgresql://postgres@127.0.0.1:5432/test', "
        f"schema={postgres_schema!r})"
        if POSTGRES_DSN == "postgresql://postgres@127.0.0.1:5432/test"
        else repr(again)
    )
    again.close()
    with pytest.raises(StoreError, match="closed"):
        again.read("i")


def test_a_newer_schema_is_refused(admin: PostgresAdmin, postgres_schema: str) -> None:
    PostgresStateStore(POSTGRES_DSN, schema=postgres_schema).close()
    admin.execute(f"UPDATE {postgres_schema}.durable_version SET version = 99")
    with pytest.raises(StoreError, match=r"schema version 99, newer .* upgrade durable"):
        PostgresStateStore(POSTGRES_DSN, schema=postgres_schema)


def test_a_schema_of_someone_else_is_refused_and_left_alone(
    admin: PostgresAdmin, postgres_schema: str
) -> None:
    admin.execute(f"CREATE SCHEMA {postgres_schema}")
    admin.execute(f"CREATE TABLE {postgres_schema}.accounts (id int)")
    with pytest.raises(StoreError, match="not a durable store; pass another schema="):
        PostgresStateStore(POSTGRES_DSN, schema=postgres_schema)
    tables = admin.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s", (postgres_schema,)
    ).fetchall()
    assert tables == [("accounts",)]


@pytest.mark.parametrize("bad", ["", "1abc", "a-b", 'a"b', "x" * 56, "a;drop", None])
def test_a_schema_name_must_be_an_identifier(bad: object) -> None:
    with pytest.raises(ValueError, match="schema must be an identifier"):
        PostgresStateStore(POSTGRES_DSN, schema=bad)  # type: ignore[arg-type]


def test_an_unreachable_server_is_a_store_error_naming_it() -> None:
    with pytest.raises(StoreError, match=r"cannot open the store: PostgreSQL store .*:1/test"):
        PostgresStateStore("postgresql://postgres@127.0.0.1:1/test", timeout=0.5)


_OPENER = """
import sys, time
from durable import PostgresStateStore
time.sleep(max(0.0, float(sys.argv[4]) - time.time()))  # both open at the same moment
store = PostgresStateStore(sys.argv[1], schema=sys.argv[2])
store.save(f"from-{sys.argv[3]}", b"{}")
store.close()
print("ok")
"""


def test_two_processes_creating_the_schema_at_once_both_succeed(
    admin: PostgresAdmin, postgres_schema: str
) -> None:
    start_at = str(time.time() + 3)  # after both processes imported durable
    procs = [run_python(_OPENER, POSTGRES_DSN, postgres_schema, str(n), start_at) for n in range(2)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert all(out.strip() == "ok" for out, _ in outputs)
    version = admin.execute(f"SELECT version FROM {postgres_schema}.durable_version").fetchall()
    assert version == [(_sql.SCHEMA_VERSION,)]


# ------------------------------------------------------------------------------------------
# Lost connections
# ------------------------------------------------------------------------------------------


def _terminate(admin: PostgresAdmin, schema: str) -> int:
    """Kill the server processes of the store's connections (as a restart would)."""
    rows = admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        (f"durable:{schema}",),
    ).fetchall()
    return len(rows)


def test_killed_connections_are_replaced_and_no_acknowledged_write_is_lost(
    admin: PostgresAdmin, opened: PostgresStateStore, postgres_schema: str
) -> None:
    seq, failures, killed = 0, 0, 0
    for n in range(60):
        if n in (20, 40):
            killed += _terminate(admin, postgres_schema)
        try:
            opened.publish("i", f"e{n:02d}", "go", ev("go", n))
            if opened.commit("i", seq, header(seq + 1), snap(seq + 1), [f"e{n:02d}"], [b"%d" % n]):
                seq += 1
        except StoreError:
            failures += 1
            seq = opened.read("i").seq or 0  # the outcome of a failed write is read back
    assert killed >= 2
    stored = opened.read("i")
    assert stored.seq == seq and stored.data == snap(seq)
    assert len(opened.read_history("i")) == seq  # each saved checkpoint wrote its entry once
    assert seq >= 60 - failures


@pytest.mark.exhaustive
def test_a_server_restart_mid_run_raises_store_errors_then_continues(
    opened: PostgresStateStore,
) -> None:
    """Stops and starts the machine's server (``pg_ctlcluster``): exhaustive tier only, as it
    disturbs every other user of the server for a few seconds."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    ctl = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]
    assert opened.commit("i", 0, header(1), snap(1))
    subprocess.run([*ctl, "stop"], check=True, timeout=120)
    try:
        with pytest.raises(StoreError, match="is the server running"):
            opened.commit("i", 1, header(2), snap(2))
        with pytest.raises(StoreError):
            opened.read("i")
    finally:
        subprocess.run([*ctl, "start"], check=True, timeout=120)
    deadline = time.monotonic() + 60
    while True:
        try:
            stored = opened.read("i")
            break
        except StoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert stored.seq == 1  # the commit that failed during the outage was not saved
    assert opened.commit("i", 1, header(2), snap(2))
    assert opened.read("i").seq == 2


# ------------------------------------------------------------------------------------------
# LISTEN / NOTIFY
# ------------------------------------------------------------------------------------------

_PUBLISHER = """
import sys
from durable import PostgresStateStore
store = PostgresStateStore(sys.argv[1], schema=sys.argv[2])
for instance_id in sys.argv[3:]:
    store.publish(instance_id.replace("NUL", "\\x00"), "e1", "go", b'{"name": "go"}')
store.close()
"""


async def _hear(
    store: PostgresStateStore, expected: set[str], publish_from_child: list[str]
) -> set[str]:
    """Listen; publish ``first`` in this process until heard (LISTEN is then in place), then
    the ids ``publish_from_child`` from another process; return what was heard."""
    heard: set[str] = set()
    got = anyio.Event()

    def notify(instance_id: str) -> None:
        heard.add(instance_id)
        if expected <= heard:
            got.set()

    async with anyio.create_task_group() as group:
        group.start_soon(store.listen, notify)
        with anyio.fail_after(30):
            while "probe" not in heard:
                await anyio.to_thread.run_sync(store.publish, "probe", "p", "go", ev("go"))
                await anyio.sleep(0.05)
            proc = run_python(_PUBLISHER, store.dsn, store.schema, *publish_from_child)
            await anyio.to_thread.run_sync(proc.communicate)
            assert proc.returncode == 0
            await got.wait()
        group.cancel_scope.cancel()
    return heard


async def test_listen_hears_a_publish_from_another_process(opened: PostgresStateStore) -> None:
    long_id = "x" * (_sql.LONG_ID + 100)  # named by its hash in the payload
    opened.publish(long_id, "e0", "go", ev("go"))  # the hash maps back through the inbox
    ids = ["plain", "é", "with NUL", long_id]
    heard = await _hear(opened, {"plain", "é", "with \x00", long_id}, ids)
    assert {"plain", "é", "with \x00", long_id} <= heard


async def test_listen_reconnects_after_its_connection_is_killed(
    admin: PostgresAdmin, opened: PostgresStateStore, postgres_schema: str
) -> None:
    heard: list[str] = []

    with capture_events() as events:
        async with anyio.create_task_group() as group:
            group.start_soon(opened.listen, heard.append)
            with anyio.fail_after(30):
                while "before" not in heard:
                    await anyio.to_thread.run_sync(opened.publish, "before", "p", "go", ev("go"))
                    await anyio.sleep(0.05)
                await anyio.to_thread.run_sync(_terminate, admin, postgres_schema)
                while "after" not in heard:
                    await anyio.to_thread.run_sync(opened.publish, "after", "p", "go", ev("go"))
                    await anyio.sleep(0.05)
            group.cancel_scope.cancel()
    names = [event["event"] for event in events]
    assert "store.listen_lost" in names and "store.listen_restored" in names


async def test_a_finished_child_wakes_its_parent(opened: PostgresStateStore) -> None:
    heard: list[str] = []
    async with anyio.create_task_group() as group:
        group.start_soon(opened.listen, heard.append)
        with anyio.fail_after(30):
            while "probe" not in heard:
                await anyio.to_thread.run_sync(opened.publish, "probe", "p", "go", ev("go"))
                await anyio.sleep(0.05)
            done = dataclasses.replace(header(1, "completed"), parent="the-parent")
            assert await anyio.to_thread.run_sync(opened.commit, "child", 0, done, snap(1))
            while "the-parent" not in heard:
                await anyio.sleep(0.01)
        group.cancel_scope.cancel()
    assert "child" not in heard


# ------------------------------------------------------------------------------------------
# Leases across processes, group commit across threads
# ------------------------------------------------------------------------------------------

_CLAIMER = """
import sys
from datetime import datetime, timedelta, timezone
from durable import PostgresStateStore

store = PostgresStateStore(sys.argv[1], schema=sys.argv[2])
now = datetime(2026, 1, 1, tzinfo=timezone.utc)
won = []
while True:  # its own leases come back too (a claim renews them): stop when nothing is new
    batch = store.claim_ready(now, sys.argv[3], now + timedelta(seconds=30), limit=200)
    new = [i for i in batch if i not in won]
    if not new:
        break
    won += new
store.close()
print(" ".join(won))
"""


def test_processes_claiming_ready_instances_never_share_one(opened: PostgresStateStore) -> None:
    ids = [f"i{n}" for n in range(60)]
    for instance_id in ids:
        assert opened.commit(instance_id, 0, header(1, events=("go",)), snap(1))
        opened.publish(instance_id, "e", "go", ev("go"))
    procs = [run_python(_CLAIMER, POSTGRES_DSN, opened.schema, f"p{n}") for n in range(3)]
    won = [proc.communicate(timeout=120)[0].split() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0]
    assert sorted(i for batch in won for i in batch) == sorted(ids)  # each claimed exactly once
    for name, batch in zip(("p0", "p1", "p2"), won, strict=True):
        for instance_id in batch[:2]:
            held = opened.lease(instance_id)
            assert held is not None and held.owner == name


def test_many_threads_committing_at_once_keep_compare_and_set(
    opened: PostgresStateStore,
) -> None:
    """16 threads: each commits its own instance 20 times and races the others on a shared
    one. Every own commit succeeds; on the shared one exactly one commit per seq wins."""
    wins: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            barrier.wait()
            for n in range(20):
                assert opened.commit(f"own-{t}", n, header(n + 1), snap(n + 1), (), [b"%d" % n])
                seq = opened.read("hot").seq or 0
                if opened.commit("hot", seq, header(seq + 1), snap(seq + 1), (), [b"%d" % t]):
                    with lock:
                        wins.append(seq + 1)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for t in range(16):
        assert opened.read(f"own-{t}").seq == 20
        assert opened.read_history(f"own-{t}") == [b"%d" % n for n in range(20)]
    assert sorted(wins) == list(range(1, len(wins) + 1))  # one winner per seq
    assert opened.read("hot").seq == len(wins) == len(opened.read_history("hot"))


def test_a_stalled_owner_cannot_commit_after_another_claimed(
    opened: PostgresStateStore,
) -> None:
    """Virtual times: w1's lease ends at LATER; w2 claims after that; w1 wakes up late."""
    assert opened.claim("i", "w1", T0, LATER)
    assert opened.commit("i", 0, header(1, "running"), snap(1), owner="w1")
    assert not opened.claim("i", "w2", LATER - timedelta(seconds=1), LATER + timedelta(hours=1))
    assert opened.claim("i", "w2", LATER + timedelta(seconds=1), LATER + timedelta(hours=1))
    assert not opened.commit("i", 1, header(2), snap(2), owner="w1")
    assert not opened.claim("i", "w1", LATER + timedelta(seconds=2), LATER + timedelta(hours=2))
    assert opened.read("i").seq == 1
    assert opened.commit("i", 1, header(2, events=("go",)), snap(2), owner="w2")


# ------------------------------------------------------------------------------------------
# Through the runtime and the CLI
# ------------------------------------------------------------------------------------------


async def _relay(n: int) -> int:
    total = n
    for _ in range(3):
        total += await durable.wait_for_event("go")
    return total


relay = durable.make_durable(_relay)


async def test_a_worker_runs_instances_to_the_end(opened: PostgresStateStore) -> None:
    backend = DurableBackend(opened)
    async with Worker(backend, [relay], concurrency=20, poll_interval=0.2) as worker:
        handles = [await worker.start(relay, n, instance_id=f"r-{n}") for n in range(20)]
        for round_ in range(3):
            for n in range(20):
                await backend.publish(f"r-{n}", "go", round_ + 1)
        with anyio.fail_after(60):
            assert [await h.result() for h in handles] == [n + 6 for n in range(20)]


def durable_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "durable", *argv]
    return subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=60)


def test_the_cli_lists_a_postgres_store(opened: PostgresStateStore) -> None:
    assert opened.commit("pg-1", 0, header(1, events=("go",)), snap(1))
    url = POSTGRES_DSN + ("&" if "?" in POSTGRES_DSN else "?") + f"schema={opened.schema}"
    # libpq parameters pass through, a percent-encoded space kept a space (not a "+")
    for store in (url, url + "&options=-c%20statement_timeout%3D5000"):
        done = durable_cli("--store", store, "list", "--json")
        assert done.returncode == 0, done.stderr
        assert "pg-1" in done.stdout
    bad = durable_cli("--store", POSTGRES_DSN + "?schema=a-b", "list")
    assert bad.returncode == 2 and "schema must be an identifier" in bad.stderr


def test_a_failing_write_fails_alone_in_its_batch(opened: PostgresStateStore) -> None:
    """A commit the server refuses (a seq beyond bigint) among many concurrent good ones: it
    raises `StoreError`, the others of its batch are saved."""
    barrier = threading.Barrier(9)
    outcomes: list[object] = []

    def good(t: int) -> None:
        barrier.wait()
        for n in range(15):
            outcomes.append(opened.commit(f"g{t}", n, header(n + 1), snap(n + 1)))

    def bad() -> None:
        barrier.wait()
        for _ in range(15):
            try:
                opened.commit("bad", 2**70, header(1), snap(1))
            except StoreError as e:
                outcomes.append(e)

    threads = [threading.Thread(target=good, args=(t,)) for t in range(8)]
    threads.append(threading.Thread(target=bad))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(True) == 8 * 15
    errors = [o for o in outcomes if isinstance(o, StoreError)]
    assert len(errors) == 15 and all("instance 'bad'" in str(e) for e in errors)
    assert [opened.read(f"g{t}").seq for t in range(8)] == [15] * 8
    assert opened.read("bad").data is None


async def test_the_durable_worker_command_runs_a_postgres_store(
    opened: PostgresStateStore,
) -> None:
    from programs import worker_flows

    backend = DurableBackend(opened)
    for n in range(3):
        with pytest.raises(durable.Suspended):
            await worker_flows.relay(n, orchestration_backend=backend, instance_id=f"r-{n}")
        for _ in range(3):
            await backend.publish(f"r-{n}", "go", 1)
    url = POSTGRES_DSN + ("&" if "?" in POSTGRES_DSN else "?") + f"schema={opened.schema}"
    argv = [sys.executable, "-m", "durable", "--store", url, "worker"]
    argv += ["--import", "programs.worker_flows", "--poll-interval", "0.05"]
    proc = subprocess.Popen(argv, env=ENV, stderr=subprocess.PIPE, text=True)
    try:
        with anyio.fail_after(60):
            while not all(
                (h := opened.read_header(f"r-{n}")) is not None and h.status == "completed"
                for n in range(3)
            ):
                await anyio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = await anyio.to_thread.run_sync(proc.communicate)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped: 3 completed, 0 failed" in err
    assert f"schema {opened.schema}" in err
