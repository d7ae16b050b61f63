"""Re-homing an instance saved under ``__main__`` names: `rehome`, and ``durable rehome``.

Programs, steps and classes of a script run as ``python orders.py`` are saved under the
script's importable name (``orders:fulfil``, see `durable._importname`); older snapshots, and
scripts whose file has no importable name, say ``__main__:fulfil``, which a worker that does
``import orders`` never finds. `rehome` rewrites every ``__main__:`` reference of one saved
instance to ``orders:`` (`durable._model._rehome.rename_module`) and commits the result as a
compare-and-set on its sequence number, with an ``instance.rehomed`` audit entry.

Rejected design: renaming on load (a resume that looks for ``__main__:x`` under every
registered module). It would make the name an instance resumes under depend on what happens
to be imported, the very thing stable names remove; a one-time explicit rewrite does not.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from .._importname import MAIN, is_module_name
from .._model import header_of, read_snapshot
from .._model._rehome import rename_module
from .._tracing import emit
from ..errors import ConcurrentResumeError, InstanceLeasedError, InstanceNotFoundError
from ..stores import StateStore
from ._backend import _json_line

__all__ = ["Rehomed", "rehome"]


@dataclasses.dataclass(frozen=True)
class Rehomed:
    """What `rehome` did to one instance."""

    instance_id: str
    renamed: dict[str, str]  # each saved reference renamed, from -> to; empty: nothing to do
    seq: int | None  # the checkpoint the renamed snapshot was saved as; None: nothing saved


def rehome(store: StateStore, instance_id: str, *, module: str, dry_run: bool = False) -> Rehomed:
    """Rename every ``__main__:`` reference saved for `instance_id` to `module` (the name
    a worker imports the script's module by, such as ``"orders"``).

    Synchronous (it blocks on the store). With `dry_run`, or when nothing names
    ``__main__``, nothing is written, so a second call is a no-op. Raises
    `InstanceNotFoundError` for an instance with no saved state, `InstanceLeasedError` while
    a worker holds its lease, and `ConcurrentResumeError` when a run saved it meanwhile.
    """
    if not is_module_name(module) or module == MAIN:
        raise ValueError(f"rehome(module={module!r}): give the module's importable dotted name")
    stored = store.read(instance_id)
    if stored.data is None:
        raise InstanceNotFoundError(
            f"instance {instance_id!r} has no saved state: there is nothing to rehome"
        )
    snap = read_snapshot(instance_id, stored.data)
    header = stored.header or header_of(snap)
    now = datetime.now(UTC)
    if header.lease_owner is not None and (header.lease_until is None or header.lease_until > now):
        raise InstanceLeasedError(
            f"instance {instance_id!r} is being run by {header.lease_owner} (lease until "
            f"{header.lease_until}); stop that worker or wait until it pauses, then rehome it"
        )
    state, renamed = rename_module(snap.model_dump(mode="json"), MAIN, module)
    if not renamed or dry_run:
        return Rehomed(instance_id, renamed, None)
    seq = header.seq + 1
    state["seq"] = seq
    new_header = dataclasses.replace(
        header_of(read_snapshot(instance_id, state)),
        lease_owner=header.lease_owner,
        lease_until=header.lease_until,
        extra=header.extra,
    )
    fields: dict[str, Any] = {"from": MAIN, "to": module, "renamed": renamed}
    entry = {"at": now.isoformat(), "kind": "instance.rehomed", "seq": seq, **fields}
    data = json.dumps(state, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    saved = store.commit(
        instance_id,
        header.seq,
        new_header,
        data.encode("utf-8", "surrogatepass"),
        (),
        [_json_line(entry)],
    )
    if not saved:
        raise ConcurrentResumeError(
            f"instance {instance_id!r}: a run saved it while it was being rehomed; nothing was "
            "changed. Rehome it again"
        )
    emit("instance.rehomed", instance_id=instance_id, program=new_header.program, seq=seq, **fields)
    return Rehomed(instance_id, renamed, seq)
