"""Programs whose instances the dashboard tests look at (tests/web/): one of each wait kind,
a failure, a completion and a fan-out. `populate` fills a store with them through the public
API; the browser test's server imports this module (``--import programs.dashboard_flows``)
to decode `Order`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import durable
from durable import DurableBackend, RetryPolicy, StateStore, Suspended, make_durable


@dataclass
class Order:
    sku: str
    qty: int


@durable.step(
    retry=RetryPolicy(max_attempts=3, initial_interval=3600, max_interval=3600, jitter=False)
)
async def charge(order: Order) -> int:
    raise ConnectionError(f"the payment service is down for {order.sku}")


async def _approval(order: Order, customer: str) -> str:
    note = f"{customer} orders {order.qty} x {order.sku}"
    answer = await durable.wait_for_event("approve", timeout=3600)
    return f"{note}: {answer}"


async def _nap(minutes: int) -> int:
    doubled = minutes * 2
    await durable.sleep(minutes * 60)
    return doubled


async def _billing(order: Order) -> int:
    receipt = await charge(order)
    return receipt


async def _broken(order: Order) -> None:
    remaining = order.qty - 7
    raise ValueError(f"cannot ship {remaining} of {order.sku}")


async def _quick(order: Order) -> int:
    return order.qty * 10


async def _fanout(order: Order) -> list[Any]:
    label = "fan"
    results = await durable.gather(approval(order, "Child"), nap(5), quick(order))
    return [label, *results]


approval = make_durable(_approval)
nap = make_durable(_nap)
billing = make_durable(_billing)
broken = make_durable(_broken)
quick = make_durable(_quick)
fanout = make_durable(_fanout)

WIDGET = Order("widget", 3)

# id -> (program, arguments, what the call ends in)
INSTANCES: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "approval-1": (approval, (WIDGET, "Ada")),
    "nap-1": (nap, (15,)),
    "billing-1": (billing, (WIDGET,)),
    "broken-1": (broken, (WIDGET,)),
    "quick-1": (quick, (WIDGET,)),
    "fanout-1": (fanout, (WIDGET,)),
}


async def start(store: StateStore, instance_id: str, program: Any, *args: Any) -> Any:
    """Call an instance once: its result, or the `Suspended` or exception it ended with."""
    try:
        return await program(
            *args, orchestration_backend=DurableBackend(store), instance_id=instance_id
        )
    except (Suspended, ValueError) as e:
        return e


async def populate(store: StateStore) -> None:
    """One instance of each kind in `INSTANCES`, plus an inbox event for approval-1."""
    for instance_id, (program, args) in INSTANCES.items():
        await start(store, instance_id, program, *args)
    DurableBackend(store).publish_event("approval-1", "note", {"from": "ops"})
