"""Durable programs driven from the command line by tests/test_processes.py.

Usage: python procs.py ANYIO_BACKEND STORE_DIR LOG_FILE COMMAND INSTANCE_ID [ARG...]

Commands:
  run PROGRAM [JSON_ARG...]   call the durable PROGRAM once; print one JSON line:
                              {"result": ...}, {"paused": event} or {"error": [type, message]}
  drive PROGRAM [JSON_ARG...] call it again after every pause (polling) until it finishes
  publish EVENT...            publish the events to the instance

Every step of a program appends one line to LOG_FILE (flushed and fsync-ed), so the tests can
see which code ran in which process.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

import anyio

from durable import DiskStateStore, DurableBackend, PauseForEventException, make_durable

LOG = pathlib.Path(sys.argv[3])


def log(line: str) -> None:
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(f"{line}\n")
        f.flush()
        os.fsync(f.fileno())


async def order(item: str, qty: int):
    log(f"order start {item}")
    total = qty * 10
    raise PauseForEventException("paid")
    log(f"order paid {total}")
    raise PauseForEventException("shipped")
    log("order shipped")
    return {"item": item, "total": total}


async def waits_while_running(flag_dir: str):
    log("first block")
    raise PauseForEventException("first")
    ready, done = pathlib.Path(flag_dir, "ready"), pathlib.Path(flag_dir, "done")
    ready.touch()
    while not done.exists():  # plain awaits: another process publishes meanwhile
        await anyio.sleep(0.01)
    log("second block")
    raise PauseForEventException("second")
    log("third block")
    raise PauseForEventException("third")
    log("end")
    return "finished"


async def ticks(n: int):
    count = 0
    for i in range(n):
        raise PauseForEventException(f"tick-{i}")
        count += 1
    log(f"ticks {count}")
    return count


async def inner(x: int):
    log(f"inner start {x}")
    raise PauseForEventException("inner-go")
    log("inner resumed")
    return x * 2


async def outer(x: int):
    log("outer start")
    doubled = await durable_inner(x + 1)  # the durable program, not the plain `inner`
    log(f"outer got {doubled}")
    return [x, doubled]


async def contended(flag_dir: str):
    log("contended start")
    raise PauseForEventException("go")
    pathlib.Path(flag_dir, f"ready-{os.getpid()}").touch()
    while not pathlib.Path(flag_dir, "release").exists():  # both resumers hold the same state
        await anyio.sleep(0.01)
    log("contended resumed")
    raise PauseForEventException("next")
    return "contended done"


async def fails(n: int):
    log(f"fails start {n}")
    raise PauseForEventException("go")
    log("fails raising")
    raise ValueError(f"bad input {n}")


async def keeps_lambda(values: list):
    k = 10
    key = lambda v: -v * k  # noqa: E731
    log(f"lambda made {key(1)}")
    raise PauseForEventException("sort")
    log(f"lambda resumed {key(1)}")
    k = 1  # the lambda's cell is the frame's variable, also in the resuming process
    return [sorted(values, key=key), key(2), key.__qualname__]


durable_inner = make_durable(inner)
PROGRAMS = {
    f.__name__: make_durable(f)
    for f in (order, waits_while_running, ticks, outer, fails, contended, keeps_lambda)
}


async def main(store_dir: str, command: str, instance_id: str, rest: list[str]) -> None:
    backend = DurableBackend(DiskStateStore(store_dir))
    if command == "publish":
        for event in rest:
            backend.publish_event(instance_id, event)
        print(json.dumps({"published": rest}), flush=True)
        return
    program, args = PROGRAMS[rest[0]], [json.loads(a) for a in rest[1:]]
    while True:
        try:
            result = await program(*args, orchestration_backend=backend, instance_id=instance_id)
        except PauseForEventException as e:
            if command == "drive":
                await anyio.sleep(0.005)
                continue
            print(json.dumps({"paused": e.event}), flush=True)
        except Exception as e:
            print(json.dumps({"error": [type(e).__name__, str(e)]}), flush=True)
        else:
            print(json.dumps({"result": result}), flush=True)
        return


if __name__ == "__main__":
    backend_name, store, _, cmd, iid, *extra = sys.argv[1:]
    anyio.run(main, store, cmd, iid, extra, backend=backend_name)
