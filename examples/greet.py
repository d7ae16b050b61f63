"""The seed program: pause for an event, publish it, resume.

Run it with ``python examples/greet.py`` (asyncio) or ``python examples/greet.py --trio``.
Its instances live in ``greet.db``, one SQLite file, which outlives the process: each run
starts a new instance, and ``durable --store greet.db list`` shows them all.
"""

import sys
import uuid

import anyio

from durable import DurableBackend, PauseForEventException, SQLiteStateStore, make_durable


async def greet(name: str):
    print("waiting for permission to greet")
    raise PauseForEventException("allow")
    return f"hello {name}"


durable_greet = make_durable(greet)


async def main():
    backend = DurableBackend(SQLiteStateStore("greet.db"))
    instance_id = f"greet-{uuid.uuid4().hex[:8]}"
    try:
        await durable_greet("Ada", orchestration_backend=backend, instance_id=instance_id)
    except PauseForEventException as e:
        print(f"paused for event {e.event}")
    backend.publish_event(instance_id, "allow")
    print(await durable_greet("Ada", orchestration_backend=backend, instance_id=instance_id))


if __name__ == "__main__":
    anyio.run(main, backend="trio" if "--trio" in sys.argv[1:] else "asyncio")
