"""`PostgresStateStore` against `SQLiteStateStore`, measured in one run (nothing is asserted).

Run from the repository root: ``.venv/bin/python benchmarks/bench_postgres.py [--quick]``
(``--dsn`` or ``DURABLE_TEST_POSTGRES``; default ``postgresql://postgres@127.0.0.1:5432/test``).
Each PostgreSQL measurement runs in a schema of its own, dropped afterwards.

1. **Store-level checkpoints per second**: ``THREADS`` threads (1, 4, 16) each commit their
   own instance ``COMMITS`` times in a row (``commit`` with a 1 KB snapshot, one consumed
   event id, one history entry), all at once. Both stores durable at commit
   (``synchronous_commit=on``; SQLite ``synchronous=FULL``). For PostgreSQL it also prints
   the store's transactions per checkpoint: below 1 is group commit at work.
2. **Through a Worker**: `bench_worker.throughput` (instances x pause -> publish -> resume
   cycles, one `durable.Worker`) and `bench_worker.latency` (one instance, publish ->
   resumed p50/p99) on each store, on asyncio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import psycopg
from bench_worker import latency, throughput

from durable import PostgresStateStore, SQLiteStateStore, StateStore
from durable._model import InstanceHeader

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SNAPSHOT = b'{"seq": 1, "pad": "' + b"x" * 1000 + b'"}'


def header(seq: int) -> InstanceHeader:
    return InstanceHeader(
        seq=seq,
        status="paused",
        program="bench:program",
        created_at=T0,
        updated_at=T0,
        events=("go",),
    )


def commits_per_second(store: StateStore, threads: int, commits: int) -> float:
    barrier = threading.Barrier(threads + 1)
    failed: list[BaseException] = []

    def work(t: int) -> None:
        barrier.wait()
        try:
            for n in range(commits):
                ok = store.commit(f"t{t}", n, header(n + 1), SNAPSHOT, [f"e{n}"], [b"%d" % n])
                assert ok
        except BaseException as e:
            failed.append(e)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if failed:
        raise failed[0]
    return threads * commits / elapsed


def count_batches(store: PostgresStateStore) -> list[int]:
    """Counts the store's transactions (batches) from now on: it peeks at the private
    `_batch.GroupCommit` of the store, which a benchmark may do and a test must not."""
    sizes: list[int] = []
    group = store._group
    run = group._run_batch

    def counting(batch: list[Any]) -> None:
        sizes.append(len(batch))
        run(batch)

    group._run_batch = counting
    return sizes


@contextmanager
def postgres(dsn: str) -> Iterator[Callable[[], PostgresStateStore]]:
    """Stores in fresh schemas, all dropped at the end."""
    schemas: list[str] = []

    def make() -> PostgresStateStore:
        schemas.append(f"bench_{uuid.uuid4().hex[:12]}")
        return PostgresStateStore(dsn, schema=schemas[-1], max_size=20)

    try:
        yield make
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "DURABLE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    commits, instances, cycles, samples = (50, 20, 3, 50) if args.quick else (300, 100, 10, 300)
    with tempfile.TemporaryDirectory() as tmp, postgres(args.dsn) as make_pg:
        folder = Path(tmp)
        print(f"store-level commit: N threads x {commits} checkpoints each, all at once")
        for threads in (1, 4, 16):
            sqlite = SQLiteStateStore(folder / f"c{threads}.db")
            lite = commits_per_second(sqlite, threads, commits)
            sqlite.close()
            store = make_pg()
            batches = count_batches(store)
            pg = commits_per_second(store, threads, commits)
            per = len(batches) / (threads * commits)
            store.close()
            print(
                f"  {threads:2} threads   postgres {pg:7.0f}/s   sqlite {lite:7.0f}/s   "
                f"postgres/sqlite {pg / lite:5.2f}   transactions per checkpoint {per:4.2f}"
            )
        print(f"Worker: {instances} instances x {cycles} cycles; one instance's latency")
        for name, make in (
            ("postgres", lambda _: make_pg()),
            ("sqlite", lambda n: SQLiteStateStore(folder / f"w{n}.db")),
        ):
            store = make("t")
            rate = anyio.run(throughput, store, instances, cycles)
            store.close()
            store = make("l")
            p50, p99 = anyio.run(latency, store, samples)
            store.close()
            print(
                f"  {name:8} {rate:7.0f} cycles/s   publish -> resumed p50 "
                f"{p50 * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms"
            )


if __name__ == "__main__":
    main()
