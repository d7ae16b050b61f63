"""Worker *processes* sharing one store: PostgreSQL against SQLite, measured in one run.

Run from the repository root: ``.venv/bin/python benchmarks/bench_fleet.py [--quick]``
(``--dsn`` or ``DURABLE_TEST_POSTGRES``; default ``postgresql://postgres@127.0.0.1:5432/test``).
Nothing is asserted. Every PostgreSQL measurement runs in a schema of its own, dropped at
the end; every SQLite one in a file of its own (shared by the workers) in a temporary folder.

The workers are real ``durable worker --concurrency 50 --poll-interval 0.05`` processes
running the programs of ``benchmarks/fleet_flows.py``. Stores: ``postgres`` (durable at
commit), ``postgres sync off`` (``synchronous_commit=off`` on every connection of every
process, through ``PGOPTIONS``: no commit waits for the WAL fsync), ``postgres dl 20ms``
(``deadlock_timeout=20ms`` the same way: a deadlock is found after 20 ms, not the server's
1 s), ``sqlite`` (one WAL file, ``synchronous=FULL``: durable at commit).

1. **Throughput**: ``N`` instances of ``fleet_flows.cycling(K)`` (``K`` waits for "go") are
   started here; 1, 2 or 4 workers run them while a publisher process (this script with
   ``--publish``) publishes: a closed loop, every instance gets its next "go" once it has
   saved its next pause (the publisher lists the paused headers, then publishes to every
   instance with a new pause at once, concurrently). A cycle is one saved pause, one publish
   and one resume; each is one commit (the last one of an instance is its completion), so
   cycles are counted from the headers' sequence numbers. Cycles per second run from the
   publisher's first publish to the last commit (its header's ``updated_at``; both wall
   clock, the same clock in every process). A run stops at a time cap (``--quick``: 5 s,
   else 30 s) and then counts the cycles done by then.
2. **Latency**: one instance of ``fleet_flows.pinging``; this process publishes "ping" (once
   the previous pause is saved, after a random 0-50 ms: at any moment of the workers' poll
   cycle) and the instance, resumed in a worker, appends the wall clock to a file; p50/p99 of
   (resumed - before the publish) over ``SAMPLES`` cycles (after 5 warm-up ones), with 1 and
   with 4 workers (the others idle). Wall clock and not `time.perf_counter_ns`, whose
   reference point Python leaves undefined between processes; an NTP step in the few seconds
   of a run is the (negligible) risk.
3. **Where the limit is**: CPU microseconds per cycle, read from ``/proc/PID/stat`` (utime +
   stime) while the processes live, of the workers, the publisher, this process (which polls
   for completion) and the PostgreSQL server (the backends of the run's connections, found by
   their ``application_name`` "durable:SCHEMA" in ``pg_stat_activity``, plus the server's
   background processes); the whole machine's busy share from ``/proc/stat`` and what other
   processes (other users of the machine too) took of it; the server's WAL fsyncs
   (``pg_stat_wal.wal_sync``) and this database's deadlocks (``pg_stat_database``), both
   server-wide, so other users' work counts too; and, sampled every 0.1 s, how many of the
   run's connections were open, executing a statement, waiting on the WAL (``wait_event``
   WALSync/WALWrite: the fsync) or idle inside a transaction (waiting for Python). The
   conclusion lines are computed from these.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import math
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import psycopg
from fleet_flows import CYCLING, PINGING
from psycopg.conninfo import make_conninfo

import durable
from durable import DurableBackend, PostgresStateStore, SQLiteStateStore, StateStore

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TICK = os.sysconf("SC_CLK_TCK")
WARMUP = 5
# libpq options (PGOPTIONS: every connection of every process) of the PostgreSQL variants
OPTIONS = {
    "postgres sync off": "-c synchronous_commit=off",
    "postgres dl 20ms": "-c deadlock_timeout=20ms",
}


@dataclasses.dataclass
class Target:
    """One store: the URL ``durable --store`` takes, the libpq settings of every process."""

    name: str
    url: str
    dsn: str | None = None  # PostgreSQL only, with `schema`
    schema: str | None = None
    options: str | None = None

    def env(self) -> dict[str, str]:
        return {"PGOPTIONS": self.options} if self.options else {}

    def open(self) -> StateStore:
        if self.dsn is None:
            return SQLiteStateStore(self.url)
        extra = {"options": self.options} if self.options else {}
        conninfo = make_conninfo(self.dsn, **extra)
        return PostgresStateStore(conninfo, schema=self.schema or "durable")


def open_url(url: str) -> StateStore:
    """The store at `url` (the publisher's): ``postgresql://…?schema=NAME`` or a file."""
    if not url.startswith("postgresql://"):
        return SQLiteStateStore(url)
    parts = urllib.parse.urlsplit(url)
    schema = urllib.parse.parse_qs(parts.query)["schema"][0]
    return PostgresStateStore(urllib.parse.urlunsplit(parts._replace(query="")), schema=schema)


# -- processes ---------------------------------------------------------------------------------


def start_workers(
    target: Target, count: int, tmp: Path, stamps: Path
) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, **target.env(), "DURABLE_BENCH_STAMPS": str(stamps)}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT)])
    argv = [sys.executable, "-m", "durable", "--store", target.url, "worker"]
    argv += ["--import", "fleet_flows", "--concurrency", "50", "--poll-interval", "0.05"]
    argv += ["--progress-every", "60"]
    procs, logs = [], []
    for _ in range(count):
        log = tmp / f"worker-{uuid.uuid4().hex[:8]}.log"
        with log.open("wb") as out:
            procs.append(subprocess.Popen(argv, env=env, stderr=out))
        logs.append(log)
    deadline = time.monotonic() + 60
    for proc, log in zip(procs, logs, strict=True):
        while "running" not in log.read_text():  # its signal handlers are in place
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start: {log.read_text()}")
            time.sleep(0.02)
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()


def publisher_main(url: str, n: int, k: int) -> None:
    """``--publish``: wait for "go" on stdin, print the wall clock, then publish "go" to each
    of ``c-0``…``c-{n-1}`` every time it has saved a new pause, `k` times each; then stay
    (with the connections whose CPU the benchmark reads) until killed."""
    store = open_url(url)
    backend = DurableBackend(store)

    async def cycles() -> None:
        left = {f"c-{i}": k for i in range(n)}
        published: dict[str, int] = {}  # id -> seq of the pause last published to
        while left:
            page = await anyio.to_thread.run_sync(
                functools.partial(store.list_headers, status="paused", limit=n)
            )
            due = [(i, h.seq) for i, h in page if h and i in left and published.get(i) != h.seq]
            if not due:
                await anyio.sleep(0.01)
                continue
            async with anyio.create_task_group() as group:
                for instance_id, seq in due:
                    published[instance_id] = seq
                    left[instance_id] -= 1
                    if not left[instance_id]:
                        del left[instance_id]
                    group.start_soon(backend.publish, instance_id, "go", 1)

    print("ready", flush=True)
    sys.stdin.readline()
    print(f"first {time.time_ns()}", flush=True)
    anyio.run(cycles)
    sys.stdin.read()
    store.close()


# -- CPU and server figures ----------------------------------------------------------------------


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a live process; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15)


def machine() -> tuple[int, int]:
    """(busy, all) ticks of every CPU since boot."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # idle, iowait


class Server:
    """A monitoring connection to the PostgreSQL server (None for SQLite runs)."""

    def __init__(self, dsn: str, schema: str) -> None:
        self.app = f"durable:{schema}"  # what every PostgresStateStore on `schema` is named
        self.conn = psycopg.connect(dsn, autocommit=True, application_name="fleetbench-monitor")
        self.samples: list[tuple[int, int, int, int]] = []

    def pids(self) -> list[int]:
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
            "OR backend_type <> 'client backend'",
            [self.app],
        ).fetchall()
        return [pid for (pid,) in rows]

    def cpu(self) -> dict[int, float]:
        return {pid: cpu_of(pid) for pid in self.pids()}

    def counters(self) -> tuple[int, int]:
        """The server's WAL fsyncs and this database's deadlocks so far (server-wide)."""
        row = self.conn.execute(
            "SELECT (SELECT wal_sync FROM pg_stat_wal), (SELECT deadlocks FROM "
            "pg_stat_database WHERE datname = current_database())"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def sample(self) -> None:
        """This run's connections: (open, executing, waiting on the WAL, idle in a transaction)."""
        row = self.conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE state = 'active'), "
            "count(*) FILTER (WHERE state = 'active' AND wait_event IN ('WALSync', 'WALWrite')), "
            "count(*) FILTER (WHERE state = 'idle in transaction') "
            "FROM pg_stat_activity WHERE application_name = %s",
            [self.app],
        ).fetchone()
        assert row is not None
        self.samples.append((int(row[0]), int(row[1]), int(row[2]), int(row[3])))


@dataclasses.dataclass
class Usage:
    """CPU seconds spent between two `measure` calls, and the wall time between them."""

    wall: float
    workers: float
    publisher: float
    bench: float
    server: float
    busy: float  # share of the machine's CPU time
    others: float  # CPU seconds of every other process of the machine (other users too)
    wal_syncs: int
    deadlocks: int


@contextlib.contextmanager
def measure(
    workers: list[subprocess.Popen[bytes]], publisher: int, server: Server | None
) -> Iterator[list[Usage]]:
    def own() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    out: list[Usage] = []
    wall, m0, bench = time.perf_counter(), machine(), own()
    w0 = [cpu_of(p.pid) for p in workers]
    p0 = cpu_of(publisher)
    s0, f0 = (server.cpu(), server.counters()) if server else ({}, (0, 0))
    yield out
    s1, f1 = (server.cpu(), server.counters()) if server else ({}, (0, 0))
    w1 = [cpu_of(p.pid) for p in workers]
    m1 = machine()
    out.append(
        Usage(
            wall=time.perf_counter() - wall,
            workers=sum(w1) - sum(w0),
            publisher=cpu_of(publisher) - p0,
            bench=own() - bench,
            server=sum(c - s0.get(pid, 0.0) for pid, c in s1.items()),
            busy=(m1[0] - m0[0]) / max(m1[1] - m0[1], 1),
            others=(m1[0] - m0[0]) / TICK
            - (sum(w1) - sum(w0))
            - (cpu_of(publisher) - p0)
            - (own() - bench)
            - sum(c - s0.get(pid, 0.0) for pid, c in s1.items()),
            wal_syncs=f1[0] - f0[0],
            deadlocks=f1[1] - f0[1],
        )
    )


# -- the measurements --------------------------------------------------------------------------


@dataclasses.dataclass
class Throughput:
    rate: float
    cycles: int  # done in the measured window (every instance done, or the time cap)
    complete: bool  # every cycle done before the cap
    usage: Usage
    connections: tuple[float, ...]  # averages of `Server.sample`


async def start_instances(store: StateStore, n: int, k: int) -> None:
    backend = DurableBackend(store)
    limiter = anyio.CapacityLimiter(20)

    async def one(i: int) -> None:
        async with limiter:
            with contextlib.suppress(durable.Suspended):
                await CYCLING(k, orchestration_backend=backend, instance_id=f"c-{i}")

    async with anyio.create_task_group() as group:
        for i in range(n):
            group.start_soon(one, i)


def wait_completed(
    store: StateStore, n: int, procs: list[Any], server: Server | None, cap: float
) -> bool:
    """Until every instance completed (True) or `cap` seconds passed (False): one header
    read per poll (the first not yet seen completed), not a listing of all of them, to keep
    this process's share small."""
    done, deadline = 0, time.monotonic() + cap
    while done < n:
        while done < n and (h := store.read_header(f"c-{done}")) and h.status == "completed":
            done += 1
        if server:
            server.sample()
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"{done} of {n} completed; exit codes {[p.poll() for p in procs]}")
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def progress(store: StateStore, n: int) -> tuple[int, float]:
    """(Commits so far: the sum of the headers' sequence numbers, the wall clock of the last.)
    In this closed loop every cycle is one commit: the saved pause, or for the last cycle
    of an instance its completion."""
    headers = [h for _, h in store.list_headers(limit=n) if h]
    return sum(h.seq for h in headers), max(h.updated_at.timestamp() for h in headers)


def throughput(target: Target, workers: int, n: int, k: int, tmp: Path, cap: float) -> Throughput:
    store = target.open()
    anyio.run(start_instances, store, n, k)
    seq0, _ = progress(store, n)
    server = Server(target.dsn, target.schema or "") if target.dsn else None
    procs = start_workers(target, workers, tmp, tmp / "unused")
    argv = [sys.executable, __file__, "--publish", target.url, str(n), str(k)]
    env = {**os.environ, **target.env()}
    pub = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert pub.stdin is not None and pub.stdout is not None
    try:
        assert pub.stdout.readline().strip() == "ready"
        with measure(procs, pub.pid, server) as usage:
            pub.stdin.write("go\n")
            pub.stdin.flush()
            complete = wait_completed(store, n, [*procs, pub], server, cap)
            seq, last = progress(store, n)
        first = int(pub.stdout.readline().split()[1]) / 1e9
    finally:
        pub.kill()  # done, or still publishing at the cap
        pub.wait(timeout=60)
        stop_workers(procs)
    store.close()
    cycles = seq - seq0
    conns: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    if server:
        samples = server.samples or [(0, 0, 0, 0)]
        conns = tuple(statistics.fmean(s[i] for s in samples) for i in range(4))
        server.conn.close()
    return Throughput(cycles / (last - first), cycles, complete, usage[0], conns)


def latency(target: Target, workers: int, samples: int, tmp: Path) -> tuple[float, float]:
    stamps = tmp / f"stamps-{uuid.uuid4().hex[:8]}"
    stamps.touch()
    store = target.open()
    backend = DurableBackend(store)
    total = samples + WARMUP

    async def start() -> None:
        with contextlib.suppress(durable.Suspended):
            await PINGING(total, orchestration_backend=backend, instance_id="p")

    anyio.run(start)
    procs = start_workers(target, workers, tmp, stamps)
    delays = []
    try:
        for i in range(total):
            header = store.read_header("p")
            assert header is not None and header.status == "paused", header
            time.sleep(random.uniform(0, 0.05))  # at any moment of the workers' poll cycle
            sent = time.time_ns()
            backend.publish_event("p", "ping")
            while len(lines := stamps.read_text().splitlines()) <= i:
                time.sleep(0.0002)
            delays.append(int(lines[i].split()[1]) - sent)
            while i + 1 < total:  # until the next pause is saved
                now = store.read_header("p")
                if now is not None and now.status == "paused" and now.seq > header.seq:
                    break
                time.sleep(0.0005)
    finally:
        stop_workers(procs)
        store.close()
    kept = sorted(delays[WARMUP:])
    return statistics.median(kept) / 1e6, kept[min(len(kept) - 1, int(len(kept) * 0.99))] / 1e6


# -- the run ---------------------------------------------------------------------------------


@contextlib.contextmanager
def targets(dsn: str, folder: Path) -> Iterator[Callable[[str], Target]]:
    """Fresh stores on demand: a new PostgreSQL schema (all dropped at the end) or SQLite file."""
    schemas: list[str] = []

    def make(name: str) -> Target:
        tag = uuid.uuid4().hex[:10]
        if name == "sqlite":
            return Target(name, str(folder / f"fleet-{tag}.db"))
        schemas.append(f"bench_fleet_{tag}")
        url = f"{dsn}?schema={schemas[-1]}"
        options = OPTIONS.get(name)
        return Target(name, url, dsn=dsn, schema=schemas[-1], options=options)

    try:
        yield make
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def us(seconds: float, cycles: int) -> float:
    return seconds / cycles * 1e6


def report_throughput(name: str, workers: int, t: Throughput, total: int) -> None:
    u, cycles = t.usage, max(t.cycles, 1)
    done = "" if t.complete else f" ({t.cycles} of {total} when the time cap came)"
    print(f"  {name:17} {workers} worker(s) {t.rate:7.0f} cycles/s{done}")
    line = (
        f"      CPU us/cycle: workers {us(u.workers, cycles):5.0f}, publisher "
        f"{us(u.publisher, cycles):4.0f}, this process {us(u.bench, cycles):4.0f}"
    )
    others = us(max(u.others, 0.0), cycles)
    busy = f"machine busy {u.busy:4.0%} (other processes {others:.0f} us/cycle)"
    if name.startswith("postgres"):
        open_, active, wal, idle_tx = t.connections
        line += (
            f", server {us(u.server, cycles):4.0f}; {busy}\n"
            f"      WAL fsyncs/cycle {u.wal_syncs / cycles:4.2f}, deadlocks {u.deadlocks}; "
            f"connections {open_:4.1f} open, {active:4.1f} executing ({wal:4.1f} waiting on "
            f"the WAL), {idle_tx:4.1f} idle in a transaction"
        )
    else:
        line += f"; {busy}"
    print(line)


def conclude(results: dict[tuple[str, int], Throughput], deadlock_timeout: float) -> None:
    print("conclusions (computed from the figures above):")
    cores = os.cpu_count() or 1
    for name in ("postgres", "sqlite", "postgres sync off"):
        one, four = results.get((name, 1)), results.get((name, 4))
        if one and four:
            print(f"  {name}: 4 workers / 1 = {four.rate / one.rate:.2f}x")
    for name in ("postgres", "sqlite"):
        one = results.get((name, 1))
        if not one:
            continue
        u, cycles = one.usage, max(one.cycles, 1)
        worker = us(u.workers, cycles)
        spent = (u.workers + u.publisher + u.bench + u.server) / cycles
        print(
            f"  {name}, 1 worker: worker CPU per cycle {worker:.0f} us -> at most "
            f"{1e6 / worker:.0f} cycles/s per core; all processes {spent * 1e6:.0f} us/cycle "
            f"-> {cores} cores cap {cores / spent:.0f} cycles/s; measured {one.rate:.0f} "
            f"({one.rate * spent / cores:.0%} of the cap), machine busy {u.busy:.0%}"
        )
    on, off = results.get(("postgres", 1)), results.get(("postgres sync off", 1))
    if on and off:
        gain = off.rate / on.rate
        u = on.usage
        if u.busy >= 0.85:
            mine = (u.workers + u.publisher + u.bench + u.server) / u.wall / cores
            verdict = (
                f"CPU: the machine {u.busy:.0%} busy, {mine:.0%} of its {cores} cores this run's "
                f"processes (the worker {u.workers / u.wall / cores:.0%}), the rest other "
                "processes"
            )
        elif gain >= 1.3:
            verdict = "the WAL fsync at commit"
        else:
            verdict = "waiting that is neither CPU nor fsync (round trips, the pool, polling)"
        print(
            f"  postgres, 1 worker: synchronous_commit=off {gain:.2f}x as fast (WAL fsyncs/cycle "
            f"{u.wal_syncs / max(on.cycles, 1):.2f} -> "
            f"{off.usage.wal_syncs / max(off.cycles, 1):.2f}) -> the limit is {verdict}"
        )
    four, fast = results.get(("postgres", 4)), results.get(("postgres dl 20ms", 4))
    one = results.get(("postgres", 1))
    if four and fast and four.usage.deadlocks:
        waited = four.usage.deadlocks * deadlock_timeout
        print(
            f"  postgres, 4 workers: {four.usage.deadlocks} deadlocks between the processes' "
            f"batches, each found only after deadlock_timeout ({deadlock_timeout:g} s): "
            f"{waited:.0f} s of stalled transactions in a {four.usage.wall:.0f} s window; with "
            f"deadlock_timeout=20ms {fast.rate:.0f} cycles/s ({fast.rate / four.rate:.1f}x, "
            f"{fast.usage.deadlocks} deadlocks) -> with several processes the limit is these "
            "deadlocks, then CPU"
        )
    elif four and one:
        per_one = one.usage.workers / max(one.cycles, 1)
        per_four = four.usage.workers / max(four.cycles, 1)
        print(
            f"  postgres, 4 workers: no deadlocks; worker CPU per cycle {per_one * 1e6:.0f} us "
            f"with 1 worker, {per_four * 1e6:.0f} us with 4 (all processes on 2 cores, the "
            "server too) -> on this machine one worker and the server already fill the cores: "
            "more workers add CPU per cycle, not throughput; they scale across machines"
        )


def server_setting(dsn: str, name: str) -> float:
    """A numeric server setting in its base unit (deadlock_timeout: milliseconds)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT setting FROM pg_settings WHERE name = %s", [name]).fetchone()
    return float(row[0]) if row else math.nan


def main() -> None:
    if sys.argv[1:2] == ["--publish"]:
        publisher_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "DURABLE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    n, k, samples, cap = (40, 3, 30, 5.0) if args.quick else (300, 10, 200, 30.0)
    results: dict[tuple[str, int], Throughput] = {}
    with tempfile.TemporaryDirectory() as tmp, targets(args.dsn, Path(tmp)) as make:
        folder = Path(tmp)
        print(
            f"throughput: {n} instances x {k} cycles (each a saved pause, then an event from a "
            f"publisher process); a run stops at {cap:g} s"
        )
        for name, counts in (
            ("postgres", (1, 2, 4)),
            ("sqlite", (1, 2, 4)),
            ("postgres sync off", (1, 4)),
            ("postgres dl 20ms", (4,)),
        ):
            for workers in counts:
                result = throughput(make(name), workers, n, k, folder, cap)
                results[(name, workers)] = result
                report_throughput(name, workers, result, n * k)
        print(f"latency: one instance, publish -> resumed, {samples} samples")
        for name in ("postgres", "sqlite"):
            for workers in (1, 4):
                p50, p99 = latency(make(name), workers, samples, folder)
                print(f"  {name:17} {workers} worker(s)  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
        conclude(results, server_setting(args.dsn, "deadlock_timeout") / 1000)


if __name__ == "__main__":
    main()
