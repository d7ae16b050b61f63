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
import os
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from .._importname import MAIN, is_module_name
from .._model import header_of, read_snapshot
from .._model._rehome import rename_module
from .._tracing import emit
from ..errors import ConcurrentResumeError, InstanceLeasedError, InstanceNotFoundError
from ..stores import Lease, StateStore
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

    Synchronous (it blocks on the store). It holds the instance's lease while it rewrites,
    so no worker runs the instance meanwhile. With `dry_run`, or when nothing names
    ``__main__``, nothing is written, so a second call is a no-op. Raises
    `InstanceNotFoundError` for an instance with no saved state, `InstanceLeasedError` while
    a worker holds its lease, and `ConcurrentResumeError` when a run saved it meanwhile.
    """
    if not is_module_name(module) or module == MAIN:
        raise ValueError(f"rehome(module={module!r}): give the module's importable dotted name")
    now = datetime.now(UTC)
    if dry_run:
        lease = store.lease(instance_id)
        if lease is not None and lease.until > now:
            raise _leased(instance_id, lease)
        return _rename(store, instance_id, module, now, owner=None)
    owner = f"durable-rehome-{os.getpid()}-{secrets.token_hex(4)}"
    if not store.claim(instance_id, owner, now, now + _LEASE):
        raise _leased(instance_id, store.lease(instance_id))
    try:
        return _rename(store, instance_id, module, now, owner)
    finally:
        store.release(instance_id, owner)


_LEASE: Final = timedelta(minutes=1)  # ample for one read and one commit


def _leased(instance_id: str, lease: Lease | None) -> InstanceLeasedError:
    holder = "another worker" if lease is None else f"{lease.owner} (lease until {lease.until})"
    return InstanceLeasedError(
        f"instance {instance_id!r} is being run by {holder}; stop that worker or wait until "
        "the instance pauses, then rehome it. Nothing was changed"
    )


def _rename(
    store: StateStore, instance_id: str, module: str, now: datetime, owner: str | None
) -> Rehomed:
    stored = store.read(instance_id)
    if stored.data is None:
        raise InstanceNotFoundError(
            f"instance {instance_id!r} has no saved state: there is nothing to rehome"
        )
    snap = read_snapshot(instance_id, stored.data)
    header = stored.header or header_of(snap)
    state, renamed = rename_module(snap.model_dump(mode="json"), MAIN, module)
    if not renamed or owner is None:
        return Rehomed(instance_id, renamed, None)
    seq = header.seq + 1
    state["seq"] = seq
    new_header = dataclasses.replace(
        header_of(read_snapshot(instance_id, state)), extra=header.extra
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
        owner=owner,
    )
    if not saved:
        raise ConcurrentResumeError(
            f"instance {instance_id!r}: a run saved it while it was being rehomed; nothing was "
            "changed. Rehome it again"
        )
    emit("instance.rehomed", instance_id=instance_id, program=new_header.program, seq=seq, **fields)
    return Rehomed(instance_id, renamed, seq)
