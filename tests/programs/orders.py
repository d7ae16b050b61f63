"""A script whose instances are resumed by a process that imports it (test_program_names.py).

Usage: python orders.py STORE_FILE start|roundtrip INSTANCE_ID...

``start`` starts `fulfil` instances on an SQLite store, each stopping at its wait;
``roundtrip`` also publishes the event and resumes them in this same process. Prints one JSON
line: the program's saved name and, after a round trip, whether the resumed values are this
process's own classes.
Run as a script, every name here is saved as ``programs.orders:...``, the name a process
that does ``import programs.orders`` uses. `start_as_legacy_main` runs a copy of this file
whose name cannot be imported, so that it is saved under ``__main__:...`` as older versions
of durable saved every script.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import runpy
import sys
from typing import Any

import anyio
import pydantic

import durable


@dataclasses.dataclass
class Order:
    item: str
    qty: int


class Receipt(pydantic.BaseModel):
    item: str
    total: int


async def _fulfil(item: str, qty: int) -> dict[str, Any]:
    order = Order(item, qty)
    price = lambda q: q * 10  # noqa: E731 - a nested function saved by reference
    receipt = Receipt(item=item, total=price(qty))
    paid = await durable.wait_for_event("paid")
    return {"order": order, "receipt": receipt, "paid": paid, "price": price}


fulfil = durable.make_durable(_fulfil)


async def _run(store: durable.StateStore, command: str, ids: list[str]) -> dict[str, Any]:
    backend = durable.DurableBackend(store)
    out: dict[str, Any] = {"program": fulfil.name}
    for instance_id in ids:
        with contextlib.suppress(durable.Suspended):
            await fulfil("widget", 3, orchestration_backend=backend, instance_id=instance_id)
        if command == "roundtrip":
            await backend.publish(instance_id, "paid", "card")
            result = await fulfil.resume(orchestration_backend=backend, instance_id=instance_id)
            own = type(result["order"]) is Order and type(result["receipt"]) is Receipt
            out["own_classes"] = own
            out["result"] = [result["order"].qty, result["receipt"].total, result["paid"]]
    return out


def start_as_legacy_main(store: durable.StateStore, instance_id: str, folder: pathlib.Path) -> None:
    """Start `instance_id` from a copy of this file run as ``__main__`` (in this process,
    through runpy) whose file name is not importable: everything is saved as ``__main__:``."""
    copy = folder / "legacy-orders.py"
    copy.write_text(pathlib.Path(__file__).read_text())
    runpy.run_path(str(copy), {"STORE": store, "ARGV": ["", "start", instance_id]}, "__main__")


def main(argv: list[str], store: durable.StateStore | None) -> None:
    path, command, *ids = argv
    opened = store or durable.SQLiteStateStore(path)
    try:
        print(json.dumps(anyio.run(_run, opened, command, ids)), flush=True)
    finally:
        if store is None:
            opened.close()


if __name__ == "__main__":
    main(globals().get("ARGV", sys.argv[1:]), globals().get("STORE"))
