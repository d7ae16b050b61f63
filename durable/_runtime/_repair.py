"""Repairs an operator makes to saved instances: retry, edit, fork. No durable code runs here.

Each repair reads the instance, decides, and writes at most one compare-and-set commit
(``seq`` + 1 over the snapshot it read) with its audit entry; every refusal raises
`RepairRefusedError` before anything is written, so a refused repair leaves the store
byte-for-byte as it was. They are synchronous functions over a `StateStore`, run by
`DurableBackend` through its store's thread like every other store call.

* **retry**: a failed instance goes back to its *last good checkpoint*: the newest one before
  the failure whose status is running or paused and whose call stack records no exception
  (one saved as a nested call raised would only raise it again). That checkpoint, with the
  next ``seq``, becomes the current one; the next resume continues from it through the usual
  compatibility checks and migrations, so no block that completed before it runs again.
* **edit**: live values of a frame (and, with the program's code, the frame's resume point)
  of a paused instance, or of a failed one. A failed instance's saved state has no call
  stack, so its edit applies to the checkpoint ``retry`` would go back to and the instance
  stays failed: the new snapshot holds that call stack (edited), its wait, and the original
  error; ``run`` still raises the error, and ``retry`` resumes from this stack.
* **fork**: a copy of the state under a new id, with ``seq`` 1, an empty inbox, and a
  history entry linking it to its origin (which gets the same entry).

Values are decoded and re-encoded whole, frames first then result then error, with one
decoder and one encoder, the order every reader uses, so objects shared between variables
and frames stay shared. Rejected design: patching only the edited variable's JSON, which
breaks as soon as another variable refers (``$ref``) to an object inside the old value.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import pydantic

from .._model import (
    CallStack,
    ChildrenWait,
    FunctionCall,
    InstanceHeader,
    Snapshot,
    header_of,
    read_snapshot,
)
from .._model._codec import DecodeError, Decoder, Encoder, UnencodableValue
from ..errors import InstanceExistsError, InstanceNotFoundError, RepairRefusedError
from ..stores import StateStore
from ._registry import registry

__all__ = ["Repair", "edit_instance", "fork_instance", "operator", "retry_instance"]

_GOOD = ("running", "paused")


@dataclasses.dataclass(frozen=True)
class Repair:
    """What a repair wrote: the instance, its new ``seq``, the checkpoint it started from
    (``from_seq``), its status now, and the audit entry it appended."""

    instance_id: str
    seq: int
    from_seq: int
    status: str
    entry: dict[str, Any]


# -- retry ---------------------------------------------------------------------------------


def retry_instance(
    store: StateStore, now: datetime, instance_id: str, by: str | None, reason: str | None
) -> Repair:
    snap = _current(store, instance_id)
    _refuse_leased(store, now, instance_id)
    if snap.status != "failed":
        raise RepairRefusedError(
            f"instance {instance_id!r} is {snap.status}, not failed: only a failed instance "
            "is retried. Nothing was written"
        )
    base = _good_checkpoint(store, snap)
    status: Literal["running", "paused"] = "paused" if base.wait is not None else "running"
    new = base.model_copy(
        update={
            "seq": snap.seq + 1,
            "status": status,
            "error": None,
            "result": None,
            "updated_at": now,
        }
    )
    entry = _entry(now, "instance.retried", new.seq, by, from_seq=base.seq, failed_seq=snap.seq)
    if reason is not None:
        entry["reason"] = reason
    _commit(store, instance_id, snap.seq, new, entry)
    return Repair(instance_id, new.seq, base.seq, status, entry)


def _good_checkpoint(store: StateStore, failed: Snapshot) -> Snapshot:
    """What a retry of `failed` resumes from (module docstring); refused if none is kept."""
    if _has_stack(failed):
        return failed  # an edited failed instance: its own stack
    for header, data in reversed(store.checkpoints(failed.instance_id)):
        if header.seq < failed.seq and header.status in _GOOD:
            snap = read_snapshot(failed.instance_id, data)
            if _has_stack(snap) and all(f.outcome != "raised" for f in snap.call_stack.frames):
                return snap
    raise RepairRefusedError(
        f"instance {failed.instance_id!r} failed at checkpoint {failed.seq} and the store keeps "
        f"no good checkpoint before it (it keeps the last {store.keep_checkpoints}: "
        "keep_checkpoints=); it cannot be retried. Nothing was written"
    )


def _has_stack(snap: Snapshot) -> bool:
    frames = snap.call_stack.frames
    return bool(frames) and frames[0].outcome == "running"


# -- edit ------------------------------------------------------------------------------------


def edit_instance(
    store: StateStore,
    now: datetime,
    instance_id: str,
    *,
    frame: int,
    values: Mapping[str, Any],
    point: str | None,
    why: str,
    by: str | None,
    expected_seq: int | None,
) -> Repair:
    if not why.strip():
        raise ValueError("an edit needs a reason (why=, --why): it is kept in the history")
    snap = _current(store, instance_id)
    if expected_seq is not None and expected_seq != snap.seq:
        raise _stale(instance_id, expected_seq, snap.seq)
    _refuse_leased(store, now, instance_id)
    if snap.status == "paused":
        base = snap
    elif snap.status == "failed":
        base = _good_checkpoint(store, snap)
    else:
        raise RepairRefusedError(
            f"instance {instance_id!r} is {snap.status}: only a paused or failed instance can "
            "be edited. Nothing was written"
        )
    frames, results, error = _decode_all(snap, base)
    target = _target_frame(instance_id, base, frame)
    old_values = frames[frame]
    changes = [
        _change(instance_id, frame, target, name, old_values, raw) for name, raw in values.items()
    ]
    for change in changes:
        old_values[change["name"]] = change.pop("value")
    stack = list(base.call_stack.frames)
    moved: dict[str, Any] = {}
    wait = base.wait
    if point is not None:
        stack, moved = _move(instance_id, stack, frame, point, old_values)
        frames, results = frames[: len(stack)], results[: len(stack)]
        frames[frame] = {n: old_values[n] for n in stack[frame].locals}
        wait = None
    encoded = _encode_all(instance_id, stack, frames, results, error)
    status = "running" if point is not None and snap.status == "paused" else snap.status
    new = base.model_copy(
        update={
            "seq": snap.seq + 1,
            "status": status,
            "updated_at": now,
            "wait": wait,
            "call_stack": CallStack(frames=encoded.frames),
            "error": encoded.error,
            "result": None,
        }
    )
    entry = _entry(now, "instance.edited", new.seq, by, from_seq=base.seq, frame=frame)
    entry.update(function=target.function, why=why, changes=changes, **moved)
    _commit(store, instance_id, snap.seq, new, entry)
    return Repair(instance_id, new.seq, base.seq, new.status, entry)


def _target_frame(instance_id: str, base: Snapshot, frame: int) -> FunctionCall:
    frames = base.call_stack.frames
    if not 0 <= frame < len(frames):
        raise RepairRefusedError(
            f"instance {instance_id!r} has frames 0 to {len(frames) - 1} (root first), not "
            f"{frame!r}. Nothing was written"
        )
    target = frames[frame]
    if target.outcome != "running":
        raise RepairRefusedError(
            f"instance {instance_id!r}: frame {frame} ({target.function}) has {target.outcome} "
            "already; only a running frame's values can be edited. Nothing was written"
        )
    return target


def _change(
    instance_id: str,
    frame: int,
    target: FunctionCall,
    name: str,
    current: dict[str, Any],
    raw: Any,
) -> dict[str, Any]:
    """The audit record of one change, plus its validated new value under ``"value"``."""
    if name not in current:
        live = ", ".join(sorted(current)) or "none"
        raise RepairRefusedError(
            f"instance {instance_id!r}: {name!r} is not live at frame {frame} ({target.function}, "
            f"line {target.lineno}); live there: {live}. Nothing was written"
        )
    old = current[name]
    value = _validated(instance_id, name, old, raw)
    return {"name": name, "old": _encoded(old), "new": _encoded(value), "value": value}


def _validated(instance_id: str, name: str, old: Any, raw: Any) -> Any:
    """`raw` (JSON) as a value that may replace `old`: a Pydantic model through its own
    validation, a dataclass through its constructor, a tagged codec node through the codec,
    plain JSON as the same type as `old` (any type when `old` is None)."""
    where = f"instance {instance_id!r}: cannot set {name!r}"
    try:
        if isinstance(raw, dict) and "$t" in raw:
            value = Decoder().decode(raw)
        elif isinstance(old, pydantic.BaseModel):
            return type(old).model_validate(raw)
        elif dataclasses.is_dataclass(old) and not isinstance(old, type):
            if not isinstance(raw, dict):
                raise TypeError(f"{type(old).__qualname__} is built from a JSON object")
            return type(old)(**raw)
        else:
            value = _plain(old, raw)
    except (DecodeError, pydantic.ValidationError, TypeError, ValueError) as e:
        problem = " ".join(str(e).split())
        raise RepairRefusedError(f"{where}: {problem}. Nothing was written") from None
    if old is not None and type(value) is not type(old):
        raise RepairRefusedError(
            f"{where}: it holds a {type(old).__qualname__}, not a {type(value).__qualname__}. "
            "Nothing was written"
        )
    return value


def _plain(old: Any, raw: Any) -> Any:
    if isinstance(old, float) and type(raw) is int:
        return float(raw)
    if isinstance(old, tuple | set | frozenset) and isinstance(raw, list):
        return type(old)(raw)
    return raw


def _move(
    instance_id: str,
    stack: list[FunctionCall],
    frame: int,
    point: str,
    values: dict[str, Any],
) -> tuple[list[FunctionCall], dict[str, Any]]:
    """The stack with frame `frame` resuming at point `point` of its function instead."""
    saved = stack[frame]
    program = registry.get(saved.function)
    where = f"instance {instance_id!r}: cannot move frame {frame} ({saved.function}) to {point!r}"
    if program is None:
        raise RepairRefusedError(
            f"{where}: its code is not imported (import the module that defines it; CLI: "
            "--import MODULE). Nothing was written"
        )
    if any(f.outcome == "running" for f in stack[frame + 1 :]):
        raise RepairRefusedError(
            f"{where}: a nested call runs below it; only the innermost running frame moves. "
            "Nothing was written"
        )
    infos = {p.name: p for p in program.points}
    if point == "start":
        pid, live, maybe, peers, line = 0, program.start_live, (), 1, program.lineno
    elif point in infos and infos[point].kind == "pause":
        p = infos[point]
        pid, live, maybe, peers, line = p.id, p.live, p.maybe, p.peers, p.lineno
    else:
        names = ", ".join(["'start'", *(repr(n) for n, p in infos.items() if p.kind == "pause")])
        raise RepairRefusedError(
            f"{where}: a frame moves to 'start' or to a pause statement ({names}); resuming "
            "after a call needs that call's result: retry or fork from a checkpoint taken "
            "there (durable fork ID NEW --from-seq N). Nothing was written"
        )
    missing = [n for n in live if n not in values]
    if missing:
        raise RepairRefusedError(
            f"{where}: {', '.join(map(repr, missing))} must have a value there (set it with "
            "--set). Nothing was written"
        )
    kept = {n: None for n in (*live, *maybe) if n in values}
    moved = saved.model_copy(
        update={
            "resume_point": pid,
            "point_name": point,
            "point_peers": peers,
            "lineno": line,
            "locals": kept,
            "fingerprint": program.fingerprint,
        }
    )
    old = {"from_point": saved.point_name, "to_point": point}
    return [*stack[:frame], moved], old


# -- fork ------------------------------------------------------------------------------------


def fork_instance(
    store: StateStore, now: datetime, instance_id: str, new_id: str, from_seq: int | None
) -> Repair:
    if not isinstance(new_id, str):
        raise TypeError(f"instance ids are strings, not {type(new_id).__name__}")
    if from_seq is None:
        snap = _current(store, instance_id)
    else:
        found = store.checkpoint(instance_id, from_seq)
        if found is None:
            kept = [h.seq for h, _ in store.checkpoints(instance_id)]
            raise RepairRefusedError(
                f"instance {instance_id!r} has no checkpoint {from_seq} (kept: "
                f"{', '.join(map(str, kept)) or 'none'}, and the current one). Nothing was written"
            )
        snap = read_snapshot(instance_id, found[1])
    if isinstance(snap.wait, ChildrenWait) and snap.status == "paused":
        raise RepairRefusedError(
            f"instance {instance_id!r} waits for children, which a fork would share; fork a "
            "checkpoint taken before they started. Nothing was written"
        )
    if store.read(new_id).data is not None:
        raise _exists(new_id)
    copy = snap.model_copy(
        update={
            "instance_id": new_id,
            "seq": 1,
            "parent": None,
            "consumed_events": [],
            "created_at": now,
            "updated_at": now,
        }
    )
    entry = _entry(now, "instance.forked", 1, None, origin=instance_id, origin_seq=snap.seq)
    entry["fork"] = new_id
    if not _save(store, new_id, 0, copy, entry):
        raise _exists(new_id)
    store.append_history(instance_id, _line({**entry, "seq": snap.seq}))
    return Repair(new_id, 1, snap.seq, copy.status, entry)


def _exists(new_id: str) -> InstanceExistsError:
    return InstanceExistsError(
        f"instance {new_id!r} exists already: fork to a new id. Nothing was written"
    )


# -- shared ----------------------------------------------------------------------------------


def _current(store: StateStore, instance_id: str) -> Snapshot:
    stored = store.read(instance_id)
    if stored.data is None:
        raise InstanceNotFoundError(f"instance {instance_id!r} has no saved state")
    return read_snapshot(instance_id, stored.data)


def _refuse_leased(store: StateStore, now: datetime, instance_id: str) -> None:
    lease = store.lease(instance_id)
    if lease is not None and lease.until > now:
        raise RepairRefusedError(
            f"instance {instance_id!r} is running: worker {lease.owner!r} holds it until "
            f"{lease.until.isoformat()}; repair it when it has stopped. Nothing was written"
        )


def _stale(instance_id: str, expected: int, found: int) -> RepairRefusedError:
    return RepairRefusedError(
        f"instance {instance_id!r} is at checkpoint {found}, not {expected}: it changed since "
        "it was looked at; look again and repeat. Nothing was written"
    )


def operator(by: str | None) -> str:
    if by is not None:
        return by
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment or the password database
        return "unknown"


def _entry(now: datetime, kind: str, seq: int, by: str | None, **fields: Any) -> dict[str, Any]:
    return {"at": now.isoformat(), "kind": kind, "seq": seq, "by": operator(by), **fields}


def _decode_all(snap: Snapshot, base: Snapshot) -> tuple[list[dict[str, Any]], list[Any], Any]:
    """Every frame's locals and value of `base`, decoded in the snapshot order, and the error
    of `snap` (a failed instance's, saved apart by its own encoder)."""
    decoder = Decoder()
    frames, results = [], []
    try:
        for f in base.call_stack.frames:
            frames.append({name: decoder.decode(value) for name, value in f.locals.items()})
            results.append(decoder.decode(f.value))
        error = Decoder().decode(snap.error) if snap.status == "failed" else None
    except DecodeError as e:
        raise RepairRefusedError(
            f"instance {snap.instance_id!r}: a saved value cannot be decoded ({e}); import the "
            "module that defines its type (CLI: --import MODULE). Nothing was written"
        ) from None
    return frames, results, error


def _encode_all(
    instance_id: str,
    stack: list[FunctionCall],
    frames: list[dict[str, Any]],
    results: list[Any],
    error: Any,
) -> _Encoded:
    """The call stack re-encoded with one encoder, then the error with the same encoder (its
    ids then differ from every frame's, and it refers to none of their objects)."""
    encoder = Encoder()
    out = []
    try:
        for saved, values, result in zip(stack, frames, results, strict=True):
            locals_ = {name: encoder.encode(values[name], name) for name in saved.locals}
            value = encoder.encode(result, "value")
            out.append(saved.model_copy(update={"locals": locals_, "value": value}))
        encoded_error = encoder.encode(error, "exception") if error is not None else None
    except UnencodableValue as e:
        raise RepairRefusedError(
            f"instance {instance_id!r}: the value at `{e.path}` ({e.type_name}) cannot be "
            f"saved: {e.reason}. Nothing was written"
        ) from None
    return _Encoded(out, encoded_error)


class _Encoded:
    """A re-encoded call stack and the error encoded after it (same encoder: unique ids)."""

    def __init__(self, frames: list[FunctionCall], error: Any) -> None:
        self.frames = frames
        self.error = error


def _encoded(value: Any) -> Any:
    try:
        return Encoder().encode(value, "value")
    except UnencodableValue:
        return repr(value)


def _line(entry: dict[str, Any]) -> bytes:
    text = json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.encode("utf-8", "surrogatepass")


def _save(
    store: StateStore, instance_id: str, expected: int, snap: Snapshot, entry: dict[str, Any]
) -> bool:
    state = snap.model_dump(mode="json")
    data = json.dumps(state, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    read_snapshot(instance_id, state)  # never write what the one reader would refuse
    header: InstanceHeader = header_of(snap)
    raw = data.encode("utf-8", "surrogatepass")
    return store.commit(instance_id, expected, header, raw, (), [_line(entry)])


def _commit(
    store: StateStore, instance_id: str, expected: int, snap: Snapshot, entry: dict[str, Any]
) -> None:
    if not _save(store, instance_id, expected, snap, entry):
        raise RepairRefusedError(
            f"instance {instance_id!r} changed since checkpoint {expected} was read (another "
            "run or repair saved it first); look again and repeat. Nothing was written"
        )
