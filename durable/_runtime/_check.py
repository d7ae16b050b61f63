"""`durable.check`: what resuming each stored instance under the current code would do."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import DurableError, SnapshotValidationError
from ._backend import DurableBackend
from ._registry import registry
from ._upgrade import CheckReport, report

__all__ = ["check"]


async def check(
    backend: DurableBackend, instance_ids: Iterable[str] | None = None
) -> list[CheckReport]:
    """Predict, for every instance in `backend`'s store, what resuming it under the current code
    does: ``resume``, ``upgrade`` (safe automatic upgrade), ``migrate``, ``refuse`` (with the
    reason) or ``finished``. Runs none of the instances' code and writes nothing; reads one
    snapshot per instance. Import the modules that define your durable functions first.
    """
    ids = list(instance_ids) if instance_ids is not None else backend.store.list_instances()
    reports = []
    for instance_id in ids:
        try:
            snap = (await backend.load_instance(instance_id)).snapshot
            if snap is None:
                raise SnapshotValidationError(f"instance {instance_id!r} has no saved state")
        except DurableError as e:
            reports.append(CheckReport(instance_id, "unknown", "refuse", str(e)))
            continue
        reports.append(report(instance_id, snap, registry))
    return reports
