"""An order whose payment can fail: the program of the README's "Operating durable" walkthrough.

    python examples/orders.py place ORD-7 150     # reserves the stock, then the charge fails

`place` runs the order until it ends: the card processor (`charge`) refuses amounts over
LIMIT, so an order of 150 fails and stays in the store, failed, with its live values. The
operator then repairs it with the `durable` command (`--store orders-state --import orders`,
run from this folder or with it on PYTHONPATH): see the README.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from durable import DiskStateStore, DurableBackend, make_durable

STATE = Path("orders-state")
LIMIT = 100  # the card processor refuses more in one charge


async def _reserve(order_id: str, items: int) -> str:
    return f"{items} item(s) held for {order_id}"


async def _charge(order_id: str, amount: int) -> str:
    if amount > LIMIT:
        raise ValueError(f"cannot charge {amount}: the limit is {LIMIT}")
    return f"charged {amount}"


async def _order(order_id: str, amount: int) -> str:
    held = await reserve(order_id, 1)
    receipt = await charge(order_id, amount)
    return f"{order_id}: {held}, {receipt}"


reserve = make_durable(_reserve)
charge = make_durable(_charge)
order = make_durable(_order)


async def place(order_id: str, amount: int) -> None:
    backend = DurableBackend(DiskStateStore(STATE))
    try:
        print(await order(order_id, amount, orchestration_backend=backend, instance_id=order_id))
    except ValueError as e:
        print(f"{order_id} failed: {e}")


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "place" or not argv[2].isdigit():
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    anyio.run(place, argv[1], int(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
