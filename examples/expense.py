"""An expense claim that waits for a manager's decision, across processes.

    python examples/expense.py submit EXP-1 "Team dinner" 182.50   # records it, then pauses
    python examples/expense.py approve EXP-1                         # the manager, later
    python examples/expense.py resume EXP-1                          # pays it

Each command is a separate process. Everything lives in ./expense-state: the durable store
(durable.db, one SQLite file: snapshots, event inboxes, audit history) and ledger.txt, which
stands in for the accounting system.

`approve` and `reject` publish the event "decision" with the decision as its payload (a
dataclass, saved like a live variable); the claim gets it back, typed, from
`durable.wait_for_event` once it resumes.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import anyio

import durable
from durable import DurableBackend, PauseForEventException, SQLiteStateStore, make_durable

STATE = Path("expense-state")
LEDGER = STATE / "ledger.txt"
OUTCOMES = {"approve": "approved", "reject": "rejected"}


@dataclass(frozen=True)
class Decision:
    outcome: str  # "approved" or "rejected"
    by: str


def record(line: str) -> None:
    """Append a line to the ledger."""
    with LEDGER.open("a", encoding="utf-8") as ledger:
        ledger.write(line + "\n")


async def expense_claim(claim_id: str, description: str, amount: Decimal, employee: str) -> str:
    record(f"{claim_id} submitted by {employee}: {description}, {amount}")
    print(f"{claim_id} recorded: {description}, {amount} for {employee}")

    # Saves claim_id, amount and employee, and waits for the manager's decision.
    decision: Decision = await durable.wait_for_event("decision")

    if decision.outcome == "approved":
        record(f"{claim_id} paid {amount} to {employee}")
        return f"{claim_id} approved by {decision.by}: paying {amount} to {employee}"
    record(f"{claim_id} rejected")
    return f"{claim_id} rejected by {decision.by}"


durable_claim = make_durable(expense_claim)


def open_backend() -> DurableBackend:
    STATE.mkdir(exist_ok=True)
    return DurableBackend(SQLiteStateStore(STATE / "durable.db"))


async def run(backend: DurableBackend, claim_id: str, *args: object) -> None:
    """Start the claim with `args`, or continue it: the claim id is the instance id."""
    try:
        print(await durable_claim(*args, orchestration_backend=backend, instance_id=claim_id))
    except PauseForEventException:
        print(f"{claim_id} submitted, waiting for a manager")


async def submit(claim_id: str, description: str, amount: Decimal, employee: str) -> None:
    await run(open_backend(), claim_id, claim_id, description, amount, employee)


async def resume(claim_id: str) -> None:
    backend = open_backend()
    if await backend.load_state(claim_id) is None:
        sys.exit(f"{claim_id}: no such claim, submit it first")
    # Arguments only count when an instance starts; this one continues from its snapshot.
    await run(backend, claim_id)


def decide(claim_id: str, outcome: str, manager: str) -> None:
    backend = open_backend()
    stored = backend.store.read(claim_id)
    pending = any(event.name == "decision" for event in stored.inbox)
    if pending or (stored.header is not None and stored.header.status != "paused"):
        sys.exit(f"{claim_id} was already decided")
    # The payload is stored with the event, durably, before this returns.
    backend.publish_event(claim_id, "decision", Decision(outcome, manager))
    print(f"{claim_id} {outcome} by {manager}")


def main() -> None:
    parser = argparse.ArgumentParser(description="An expense claim waiting for a manager.")
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("submit", help="record a claim and wait for a manager")
    cmd.add_argument("claim_id")
    cmd.add_argument("description")
    cmd.add_argument("amount", type=Decimal)
    cmd.add_argument("--employee", default="Ada")
    for verb in OUTCOMES:
        cmd = commands.add_parser(verb, help=f"{verb} a claim (the manager)")
        cmd.add_argument("claim_id")
        cmd.add_argument("--by", default="Grace")
    cmd = commands.add_parser("resume", help="continue a claim after the decision")
    cmd.add_argument("claim_id")
    args = parser.parse_args()

    if args.command == "submit":
        anyio.run(submit, args.claim_id, args.description, args.amount, args.employee)
    elif args.command == "resume":
        anyio.run(resume, args.claim_id)
    else:
        decide(args.claim_id, OUTCOMES[args.command], args.by)


if __name__ == "__main__":
    main()
