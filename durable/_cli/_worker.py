"""`durable worker`: run a Worker for the programs of the imported modules."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

import anyio

from durable._runtime import DurableBackend, DurableProgram, Worker

from ._common import EXIT_USAGE, PROG, CliError, _Options, _Store, _where

# ------------------------------------------------------------------------------------------
# worker
# ------------------------------------------------------------------------------------------


def _cmd_worker(store: _Store, args: argparse.Namespace, opts: _Options) -> None:
    programs: dict[str, DurableProgram[..., Any]] = {}
    for name in opts.imports:
        for value in vars(sys.modules[name]).values():
            if isinstance(value, DurableProgram):
                programs.setdefault(value.name, value)
    if not programs:
        raise CliError("no durable programs found: name their modules with --import", EXIT_USAGE)
    anyio.run(_serve, store, list(programs.values()), args, backend=args.backend)


async def _serve(
    store: _Store, programs: list[DurableProgram[..., Any]], args: argparse.Namespace
) -> None:
    worker = Worker(
        DurableBackend(store),
        programs,
        concurrency=args.concurrency,
        poll_interval=args.poll_interval,
        grace=args.grace,
        lease=args.lease,
    )
    names = ", ".join(sorted(worker.programs))
    _note(f"running {names} on {_where(store)}; Ctrl-C or SIGTERM stops")
    async with anyio.create_task_group() as group:
        group.start_soon(_stop_on_signal, worker)
        group.start_soon(_progress, worker, args.progress_every)
        await worker.run()
        group.cancel_scope.cancel()
    stats = worker.stats()
    _note(f"stopped: {stats.completed} completed, {stats.failed} failed, {stats.waiting} waiting")


async def _stop_on_signal(worker: Worker) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            _note(f"{signal.Signals(signum).name}: stopping (grace {worker.grace:g} s)")
            worker.stop()
            return


async def _progress(worker: Worker, every: float) -> None:
    last, then = worker.stats(), time.monotonic()
    while True:
        await anyio.sleep(every)
        stats, now = worker.stats(), time.monotonic()
        elapsed = max(now - then, 1e-9)
        _note(
            f"running {stats.running}, waiting {stats.waiting}, "
            f"completed {(stats.completed - last.completed) / elapsed:.1f}/s, "
            f"failed {(stats.failed - last.failed) / elapsed:.1f}/s"
        )
        last, then = stats, now


def _note(line: str) -> None:
    print(f"{PROG} worker: {line}", file=sys.stderr, flush=True)
