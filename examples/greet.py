"""The seed program: pause for an event, publish it, resume.

Run it with ``python examples/greet.py`` (asyncio) or ``python examples/greet.py --trio``.
"""

import sys

import anyio

from durable import DurableBackend, InMemoryStateStore, PauseForEventException, make_durable


async def greet(name: str):
    print("waiting for permission to greet")
    raise PauseForEventException("allow")
    return f"hello {name}"


durable_greet = make_durable(greet)


async def main():
    backend = DurableBackend(InMemoryStateStore())
    try:
        await durable_greet("Ada", orchestration_backend=backend, instance_id="greet-1")
    except PauseForEventException as e:
        print(f"paused for event {e.event}")
    backend.publish_event("greet-1", "allow")
    print(await durable_greet("Ada", orchestration_backend=backend, instance_id="greet-1"))


if __name__ == "__main__":
    anyio.run(main, backend="trio" if "--trio" in sys.argv[1:] else "asyncio")
