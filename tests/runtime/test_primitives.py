"""Payload events with timeouts, durable timers, steps with retries and cancellation, on every
store and both runtimes, with a virtual clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

import durable
from durable import (
    DurableBackend,
    EventTimeoutError,
    InstanceCancelledError,
    InvalidWaitError,
    PauseForEventException,
    RetryPolicy,
    StateStore,
    Suspended,
    UnserializableStateError,
    make_durable,
)
from durable.testing import VirtualClock

LOG: list[Any] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    LOG.clear()
    FLAKY.update(fail=0)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def backend(store: StateStore, clock: VirtualClock) -> DurableBackend:
    return DurableBackend(store, clock=clock)


@dataclass
class Decision:
    approved: bool
    by: str
    amount: Decimal


# -- events with payloads and timeouts ---------------------------------------------------------


async def _approval(claim: str) -> str:
    LOG.append(f"submitted {claim}")
    try:
        decision = await durable.wait_for_event("decision", timeout=timedelta(days=2))
    except EventTimeoutError as e:
        LOG.append(f"escalated after {e.event}")
        decision = await durable.wait_for_event("escalated-decision")
    LOG.append(f"decided {claim}")
    return f"{claim}: {'approved' if decision.approved else 'rejected'} by {decision.by}"


approval = make_durable(_approval)


async def call(program: Any, backend: DurableBackend, instance_id: str, *args: Any) -> Any:
    return await program(*args, orchestration_backend=backend, instance_id=instance_id)


async def test_a_payload_arrives_typed_and_the_timeout_does_not_fire(
    backend: DurableBackend, clock: VirtualClock
) -> None:
    with pytest.raises(PauseForEventException) as info:
        await call(approval, backend, "c-1", "C-1")
    assert info.value.event == "decision"
    assert info.value.wake_at == clock.now() + timedelta(days=2)
    assert isinstance(info.value, Suspended) and info.value.instance_id == "c-1"
    clock.advance(timedelta(days=1))
    backend.publish_event("c-1", "decision", Decision(True, "Grace", Decimal("182.50")))
    assert await call(approval, backend, "c-1", "ignored") == "C-1: approved by Grace"
    assert LOG == ["submitted C-1", "decided C-1"]


async def test_a_two_day_timeout_fires_at_the_wait(
    backend: DurableBackend, clock: VirtualClock
) -> None:
    with pytest.raises(PauseForEventException):
        await call(approval, backend, "c-2", "C-2")
    clock.advance(timedelta(days=2) - timedelta(seconds=1))
    with pytest.raises(PauseForEventException):  # not yet: nothing runs
        await call(approval, backend, "c-2", "C-2")
    assert LOG == ["submitted C-2"]
    clock.advance(timedelta(seconds=1))
    with pytest.raises(PauseForEventException) as info:  # the timeout fired, then waits again
        await call(approval, backend, "c-2", "C-2")
    assert info.value.event == "escalated-decision" and info.value.wake_at is None
    assert LOG == ["submitted C-2", "escalated after decision"]
    backend.publish_event("c-2", "escalated-decision", Decision(False, "Ada", Decimal(0)))
    assert await call(approval, backend, "c-2", "C-2") == "C-2: rejected by Ada"


async def test_an_event_published_early_is_taken_at_once(backend: DurableBackend) -> None:
    backend.publish_event("c-3", "decision", Decision(True, "Bo", Decimal(1)))
    assert await call(approval, backend, "c-3", "C-3") == "C-3: approved by Bo"
    kinds = [e["kind"] for e in backend.read_history("c-3")]
    assert "instance.paused" not in kinds


async def _collect(n: int) -> list[Any]:
    got = []
    for _ in range(n):
        got.append(await durable.wait_for_event("item"))
    return got


collect = make_durable(_collect)


async def test_events_are_consumed_once_each_in_publishing_order(backend: DurableBackend) -> None:
    for value in ("a", {"k": (1, 2)}, None):
        backend.publish_event("col", "item", value)
    with pytest.raises(PauseForEventException):
        await call(collect, backend, "col", 4)
    await backend.publish("col", "item", 4.5)
    assert await call(collect, backend, "col", 4) == ["a", {"k": (1, 2)}, None, 4.5]


def test_an_unsaveable_payload_stores_nothing(backend: DurableBackend) -> None:
    with pytest.raises(UnserializableStateError, match=r"instance 'x'.*'decision'"):
        backend.publish_event("x", "decision", lambda: 1)
    assert backend.store.read("x").inbox == ()


async def _bad_timeout(t: Any) -> None:
    await durable.wait_for_event("e", timeout=t)


bad_timeout = make_durable(_bad_timeout)


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), "5", timedelta(0)])
async def test_a_bad_timeout_is_a_named_error(backend: DurableBackend, timeout: Any) -> None:
    with pytest.raises(InvalidWaitError, match="timeout"):
        await call(bad_timeout, backend, f"bad-{timeout!r}", timeout)


# -- durable timers ----------------------------------------------------------------------------


async def _monthly(n: int) -> int:
    LOG.append("before")
    await durable.sleep(timedelta(days=30))
    LOG.append("after")
    await durable.sleep_until(datetime(2000, 1, 1, tzinfo=UTC))  # in the past: no pause
    return n + 1


monthly = make_durable(_monthly)


async def test_a_thirty_day_sleep(backend: DurableBackend, clock: VirtualClock) -> None:
    start = clock.now()
    with pytest.raises(Suspended) as info:
        await call(monthly, backend, "m", 1)
    assert not isinstance(info.value, PauseForEventException)
    assert info.value.wake_at == start + timedelta(days=30) and info.value.event is None
    clock.advance(timedelta(days=29))
    with pytest.raises(Suspended):
        await call(monthly, backend, "m", 1)
    assert LOG == ["before"]
    clock.advance(timedelta(days=1))
    assert await call(monthly, backend, "m", 1) == 2
    assert LOG == ["before", "after"]
    header = backend.store.read_header("m")
    assert header is not None and header.status == "completed"


async def test_a_restart_after_the_wake_time_continues_at_once(
    store: StateStore, clock: VirtualClock
) -> None:
    with pytest.raises(Suspended):
        await call(monthly, DurableBackend(store, clock=clock), "m2", 5)
    header = store.read_header("m2")
    assert header is not None and header.wake_at == clock.now() + timedelta(days=30)
    assert store.ready(clock.now()) == []
    clock.advance(timedelta(days=31))
    assert store.ready(clock.now()) == ["m2"]
    assert await call(monthly, DurableBackend(store, clock=clock), "m2", 5) == 6


async def _naive() -> None:
    await durable.sleep_until(datetime(2030, 1, 1))


naive = make_durable(_naive)


async def test_a_naive_datetime_is_refused(backend: DurableBackend) -> None:
    with pytest.raises(InvalidWaitError, match="timezone-aware"):
        await call(naive, backend, "naive")


async def test_primitives_outside_a_durable_function_are_refused() -> None:
    with pytest.raises(InvalidWaitError, match="inside a durable function"):
        await durable.sleep(1)


# -- steps -------------------------------------------------------------------------------------

FLAKY = {"fail": 0}


@durable.step(retry=RetryPolicy(max_attempts=4, initial_interval=10, backoff=3, jitter=False))
async def charge(card: str, amount: Decimal) -> str:
    info = durable.current_step()
    LOG.append(("charge", info.attempt, info.idempotency_key))
    if FLAKY["fail"] > 0:
        FLAKY["fail"] -= 1
        raise ConnectionError(f"gateway down for {card}")
    return f"receipt {card} {amount}"


@durable.step
def ship(address: str) -> str:
    LOG.append(("ship", durable.current_step().attempt))
    return f"shipped to {address}"


async def _payment(card: str) -> tuple[str, str]:
    receipt = await charge(card, Decimal("9.99"))
    label = await ship("Main St")
    raise PauseForEventException("done")
    return receipt, label


payment = make_durable(_payment)


async def test_a_completed_step_never_runs_again(backend: DurableBackend) -> None:
    with pytest.raises(PauseForEventException):
        await call(payment, backend, "p-1", "4242")
    backend.publish_event("p-1", "done")
    expected = ("receipt 4242 9.99", "shipped to Main St")
    assert await call(payment, backend, "p-1", "4242") == expected
    assert [entry[0] for entry in LOG] == ["charge", "ship"]  # a sync step ran in a thread


async def test_retries_wait_on_durable_timers_with_backoff(
    backend: DurableBackend, clock: VirtualClock
) -> None:
    FLAKY["fail"] = 2
    start = clock.now()
    with pytest.raises(Suspended) as info:
        await call(payment, backend, "p-2", "1111")
    assert info.value.wake_at == start + timedelta(seconds=10)
    with pytest.raises(Suspended):  # not due yet: nothing runs
        await call(payment, backend, "p-2", "1111")
    clock.advance(10)
    with pytest.raises(Suspended) as info:
        await call(payment, backend, "p-2", "1111")
    assert info.value.wake_at == clock.now() + timedelta(seconds=30)
    clock.advance(30)
    with pytest.raises(PauseForEventException):
        await call(payment, backend, "p-2", "1111")
    attempts = [(e[1], e[2]) for e in LOG if e[0] == "charge"]
    assert [a for a, _ in attempts] == [1, 2, 3]
    assert len({key for _, key in attempts}) == 1  # one idempotency key for every attempt
    kinds = [e["kind"] for e in backend.read_history("p-2")]
    assert kinds.count("step.retry_scheduled") == 2 and kinds.count("step.completed") == 2


async def _guarded_payment(card: str) -> str:
    try:
        return await charge(card, Decimal(1))
    except ConnectionError as e:
        return f"gave up: {e}"


guarded_payment = make_durable(_guarded_payment)


async def test_when_attempts_run_out_the_last_exception_is_raised_at_the_call(
    backend: DurableBackend, clock: VirtualClock
) -> None:
    FLAKY["fail"] = 10
    for _ in range(3):
        with pytest.raises(Suspended):
            await call(guarded_payment, backend, "p-3", "0000")
        clock.advance(timedelta(hours=1))
    assert await call(guarded_payment, backend, "p-3", "0000") == "gave up: gateway down for 0000"
    assert [e[1] for e in LOG] == [1, 2, 3, 4]


@durable.step(retry=RetryPolicy(max_attempts=5, non_retryable=(ValueError,)))
def validate(amount: int) -> int:
    LOG.append(("validate", amount))
    raise ValueError(f"bad amount {amount}")


async def _checked(amount: int) -> int:
    return await validate(amount)


checked = make_durable(_checked)


async def test_a_non_retryable_error_is_raised_at_once_and_saved(backend: DurableBackend) -> None:
    with pytest.raises(ValueError, match="bad amount 3"):
        await call(checked, backend, "v", 3)
    with pytest.raises(ValueError, match="bad amount 3"):  # the saved outcome, not a re-run
        await call(checked, backend, "v", 3)
    assert LOG == [("validate", 3)]


def test_bad_retry_policies_are_named_errors() -> None:
    with pytest.raises(InvalidWaitError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(InvalidWaitError):
        RetryPolicy(backoff=0.5)
    with pytest.raises(LookupError):
        durable.current_step()


# -- cancellation ------------------------------------------------------------------------------


async def _cancellable() -> str:
    try:
        await durable.wait_for_event("never")
    except InstanceCancelledError:
        LOG.append("cleaning up")
        await durable.sleep(60)
        LOG.append("cleaned up")
        raise
    return "not reached"


cancellable = make_durable(_cancellable)


async def test_cancellation_at_an_event_wait_runs_the_handlers(
    backend: DurableBackend, clock: VirtualClock
) -> None:
    with pytest.raises(PauseForEventException):
        await call(cancellable, backend, "k-1")
    backend.cancel("k-1")
    header_ready = backend.store.ready(clock.now())
    assert header_ready == ["k-1"]
    with pytest.raises(Suspended):  # the handler sleeps durably
        await call(cancellable, backend, "k-1")
    clock.advance(60)
    with pytest.raises(InstanceCancelledError):
        await call(cancellable, backend, "k-1")
    with pytest.raises(InstanceCancelledError):  # its saved outcome
        await call(cancellable, backend, "k-1")
    assert LOG == ["cleaning up", "cleaned up"]
    header = backend.store.read_header("k-1")
    assert header is not None and header.status == "cancelled"


async def test_cancellation_at_a_sleep_and_at_a_step_retry(
    backend: DurableBackend, clock: VirtualClock
) -> None:
    with pytest.raises(Suspended):
        await call(monthly, backend, "k-2", 1)
    backend.cancel("k-2")
    with pytest.raises(InstanceCancelledError):
        await call(monthly, backend, "k-2", 1)
    FLAKY["fail"] = 5
    with pytest.raises(Suspended):
        await call(payment, backend, "k-3", "9")
    backend.cancel("k-3")
    with pytest.raises(InstanceCancelledError):
        await call(payment, backend, "k-3", "9")
    assert [e[1] for e in LOG if e[0] == "charge"] == [1]  # the retry never ran


async def _statement() -> str:
    LOG.append("start")
    raise PauseForEventException("go")
    LOG.append("never")
    return "done"


statement = make_durable(_statement)


async def test_cancellation_at_a_pause_statement_ends_the_instance(backend: DurableBackend) -> None:
    with pytest.raises(PauseForEventException):
        await call(statement, backend, "k-4")
    backend.cancel("k-4")
    with pytest.raises(InstanceCancelledError):
        await call(statement, backend, "k-4")
    assert LOG == ["start"]
    with pytest.raises(InvalidWaitError, match="reserved"):
        backend.publish_event("k-4", durable.InstanceCancelledError.__module__ + ":cancel")
