"""The one reader of a saved snapshot: parse, upgrade, validate, in one function.

The runtime, the backend, `durable.check` and the CLI all read snapshots through
`read_snapshot`, so a snapshot of an older format reads the same everywhere and every
problem is reported the same way: `SnapshotValidationError` (corrupt or invalid) or
`IncompatibleSnapshotError` (a format newer than this library), naming the instance.
Reading never runs user code beyond what validating the envelope needs (no codec here: the
live values stay encoded until the runtime decodes them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pydantic

from ..errors import IncompatibleSnapshotError, SnapshotValidationError
from ._header import InstanceHeader
from ._snapshot import FORMAT_VERSION, Snapshot, upgrade
from ._wait import wait_events, wait_wake_at

__all__ = ["header_of", "read_snapshot"]

_LEFT = "it was left as it is: restore it from a backup or delete the instance"


def read_snapshot(instance_id: str, data: bytes | str | Mapping[str, Any]) -> Snapshot:
    """The `Snapshot` saved for `instance_id`, from its bytes or its decoded JSON object."""
    state = _parse(instance_id, data) if isinstance(data, bytes | str) else dict(data)
    version = state.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SnapshotValidationError(
            f"instance {instance_id!r}: the saved state is invalid (format_version: "
            f"{version!r} is not a snapshot format); {_LEFT}"
        )
    try:
        state = upgrade(state)
    except KeyError:
        advice = (
            "upgrade durable to resume it"
            if version > FORMAT_VERSION
            else "no release of durable wrote that format"
        )
        raise IncompatibleSnapshotError(
            f"instance {instance_id!r}: saved with snapshot format {version!r}, but this version "
            f"of durable reads formats 1 to {FORMAT_VERSION}; {advice}. The saved state was left "
            "unchanged"
        ) from None
    try:
        snap = Snapshot.model_validate(state)
    except pydantic.ValidationError as e:
        err = e.errors()[0]
        first = f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
        raise SnapshotValidationError(
            f"instance {instance_id!r}: the saved state is invalid ({e.error_count()} errors, "
            f"first: {first}); {_LEFT}"
        ) from None
    if snap.instance_id != instance_id:
        raise SnapshotValidationError(
            f"instance {instance_id!r}: the saved state belongs to instance {snap.instance_id!r}"
        )
    return snap


def _parse(instance_id: str, data: bytes | str) -> dict[str, Any]:
    try:
        state = json.loads(data)
    except RecursionError:
        raise SnapshotValidationError(
            f"instance {instance_id!r}: the saved state is nested too deeply; {_LEFT}"
        ) from None
    except ValueError as e:
        raise SnapshotValidationError(
            f"instance {instance_id!r}: the saved state is not valid JSON ({e}); {_LEFT}"
        ) from None
    if not isinstance(state, dict):
        raise SnapshotValidationError(
            f"instance {instance_id!r}: the saved state is not a JSON object; {_LEFT}"
        )
    return state


def header_of(snap: Snapshot) -> InstanceHeader:
    """The header a store keeps beside `snap` (see `InstanceHeader`)."""
    wait = snap.wait if snap.status == "paused" else None
    children = getattr(wait, "ids", ())
    return InstanceHeader(
        seq=snap.seq,
        status=snap.status,
        program=snap.program.qualname,
        created_at=snap.created_at,
        updated_at=snap.updated_at,
        events=wait_events(wait),
        wake_at=wait_wake_at(wait),
        children=tuple(children),
        children_mode=getattr(wait, "mode", "all"),
        parent=snap.parent,
    )
