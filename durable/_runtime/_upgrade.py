"""Resuming saved state under changed code: same code, safe upgrade, migration, or refusal.

For every running frame of a saved call stack, `plan_stack` decides, without running any of
the instance's code:

* **same code** (equal fingerprint): resume at the saved point;
* **safe upgrade**: the code changed, but the saved point still exists (found by its stable
  name, see ``PointInfo.name``) and the variables live there are exactly the ones saved, so
  it resumes under the new code (and says so with a ``snapshot.upgraded`` warning event);
* **migration**: the function's ``version`` changed and the user registered migrations for
  each step (``@program.migration(from_version=...)``); they map the saved frame (point name,
  decoded locals) to one the new code accepts, checked as for a safe upgrade;
* **refusal**: anything else raises `IncompatibleSnapshotError` saying which instance, which
  versions and fingerprints, what does not match and how to fix it.

Invariant: planning never writes. A migrated or upgraded frame reaches the store only with
the instance's next checkpoint, which must succeed first; until then the stored snapshot is
byte-for-byte what the old code wrote, and the old code can still finish the instance.

Rejected designs: resuming by statement position (an edit before the pause moves it, and
LangGraph-style "apply new code to old state" resumes at a wrong place silently); keeping
every old version of the code importable (Temporal/DBOS ``patched()`` branches forever).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from .._model import FunctionCall, Snapshot
from .._model._codec import DecodeError, Decoder, decoding
from .._transform import PointInfo
from ..errors import IncompatibleSnapshotError, SnapshotValidationError

__all__ = [
    "CheckReport",
    "Migration",
    "PlannedFrame",
    "SavedFrame",
    "corrupt",
    "plan_stack",
    "ResumableCode",
    "report",
]

START = "start"  # the name of resume point 0, a function's first line


class ResumableCode(Protocol):
    """What planning needs to know of a durable program: its identity and resume points."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str | None: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def points(self) -> tuple[PointInfo, ...]: ...
    @property
    def start_live(self) -> tuple[str, ...]: ...

    def migration_chain(
        self, saved_version: str | None
    ) -> list[tuple[str | None, str | None, Migration]] | None: ...


@dataclass
class SavedFrame:
    """One saved frame of a durable function, as a migration sees and returns it.

    ``point`` is the stable name of the resume point (``"start"``, a ``point=`` name, or
    names like ``"pause:'approve'"`` / ``"call:charge"``; see ``program.code_blocks``). Set
    it to move the resume point. ``locals`` holds the decoded live variables: rename, add or
    drop entries to match what the new code needs there.
    """

    function: str
    version: str | None
    point: str
    locals: dict[str, Any]


Migration = Callable[[SavedFrame], SavedFrame]


C = TypeVar("C", bound=ResumableCode)


@dataclass(frozen=True)
class PlannedFrame(Generic[C]):
    program: C
    saved: FunctionCall
    point: int  # in the current code
    values: dict[str, Any]
    value: Any  # a finished frame's result or exception
    how: Literal["same", "upgraded", "migrated"] = "same"
    steps: tuple[str, ...] = ()  # the migrations applied, "1->2"


@dataclass(frozen=True)
class CheckReport:
    """What resuming one instance under the current code would do (see `durable.check`)."""

    instance_id: str
    status: str
    action: Literal["resume", "upgrade", "migrate", "refuse", "finished"]
    reason: str = ""
    details: tuple[str, ...] = field(default=())


def plan_stack(
    instance_id: str, snap: Snapshot, registry: Mapping[str, C]
) -> list[PlannedFrame[C]]:
    """Decide how every saved frame resumes under the current code (module docstring)."""
    frames = snap.call_stack.frames
    if not frames or frames[0].outcome != "running":
        raise SnapshotValidationError(
            f"instance {instance_id!r}: the saved call stack has no running root frame"
        )
    planned = []
    with decoding() as decoder:
        for i, saved in enumerate(frames):
            program = _program(instance_id, saved, registry)
            values = _decode_locals(instance_id, saved, program, decoder)
            value = _decode(instance_id, decoder, saved.value)
            nested_follows = i < len(frames) - 1
            if saved.outcome != "running":
                if nested_follows:
                    raise SnapshotValidationError(
                        f"instance {instance_id!r}: a finished frame of {saved.function} is not "
                        "the innermost one"
                    )
                planned.append(PlannedFrame(program, saved, 0, {}, value))
                continue
            # The innermost frame of a paused instance may stand at an awaited call with nothing
            # saved after it: the call is a wait (`durable.wait_for_event`, `sleep`, ...).
            follows = None if not nested_follows and snap.wait is not None else nested_follows
            planned.append(_plan_frame(instance_id, program, saved, values, value, follows))
    return planned


def report(instance_id: str, snap: Snapshot, registry: Mapping[str, Any]) -> CheckReport:
    """A `CheckReport` for one validated snapshot; never raises for incompatible code."""
    if snap.status in ("completed", "failed"):
        return CheckReport(instance_id, snap.status, "finished")
    try:
        planned = plan_stack(instance_id, snap, registry)
    except (IncompatibleSnapshotError, SnapshotValidationError) as e:
        return CheckReport(instance_id, snap.status, "refuse", str(e))
    hows = {p.how for p in planned}
    details = tuple(
        f"{p.saved.function}: {', '.join(p.steps) or p.how}" for p in planned if p.how != "same"
    )
    action: Literal["resume", "upgrade", "migrate"] = "resume"
    if "migrated" in hows:
        action = "migrate"
    elif "upgraded" in hows:
        action = "upgrade"
    return CheckReport(instance_id, snap.status, action, "", details)


# -- one frame -------------------------------------------------------------------------------


def _plan_frame(
    instance_id: str,
    program: C,
    saved: FunctionCall,
    values: dict[str, Any],
    value: Any,
    nested_follows: bool | None,
) -> PlannedFrame[C]:
    if saved.fingerprint == program.fingerprint:
        point = _point_by_id(instance_id, program, saved)
        _fit(instance_id, program, saved, point, saved.point_name, set(values), nested_follows)
        return PlannedFrame(program, saved, point, values, value)
    frame = SavedFrame(saved.function, saved.version, saved.point_name, dict(values))
    steps: tuple[str, ...] = ()
    if saved.version != program.version:
        frame, steps = _migrate(instance_id, program, saved, frame)
    found = _point_by_name(program, frame.point)
    if found is None:
        raise _refusal(
            instance_id,
            program,
            saved,
            f"the resume point {frame.point!r} no longer exists (points now: "
            f"{', '.join(repr(n) for n in _names(program))})",
        )
    peers = next((p.peers for p in program.points if p.id == found), 1)
    if not steps and peers != saved.point_peers:
        raise _refusal(
            instance_id,
            program,
            saved,
            f"the code had {saved.point_peers} point(s) like {frame.point!r} and now has "
            f"{peers}, so the saved one cannot be told apart; give the pause a name with "
            "point=..., or migrate",
        )
    _fit(instance_id, program, saved, found, frame.point, set(frame.locals), nested_follows)
    how: Literal["upgraded", "migrated"] = "migrated" if steps else "upgraded"
    return PlannedFrame(program, saved, found, frame.locals, value, how, steps)


def _migrate(
    instance_id: str, program: ResumableCode, saved: FunctionCall, frame: SavedFrame
) -> tuple[SavedFrame, tuple[str, ...]]:
    chain = program.migration_chain(saved.version)
    if chain is None:
        raise _refusal(
            instance_id,
            program,
            saved,
            f"no migration leads from version {saved.version!r} to {program.version!r}",
        )
    steps = []
    for source, target, migration in chain:
        try:
            frame = migration(copy.copy(frame))
        except Exception as e:
            raise _refusal(
                instance_id,
                program,
                saved,
                f"the migration from version {source!r} to {target!r} raised "
                f"{type(e).__name__}: {e}",
            ) from e
        if not isinstance(frame, SavedFrame):
            raise _refusal(
                instance_id, program, saved, f"the migration to {target!r} returned no SavedFrame"
            )
        frame.version = target
        steps.append(f"{source}->{target}")
    return frame, tuple(steps)


def _fit(
    instance_id: str,
    program: ResumableCode,
    saved: FunctionCall,
    point: int,
    name: str,
    have: set[str],
    nested_follows: bool | None,
) -> None:
    """The frame's variables are exactly those the code needs at `point`, and its kind fits
    (`nested_follows` None: either kind fits)."""
    info = next((p for p in program.points if p.id == point), None)
    at_call = info is not None and info.kind == "call"
    if nested_follows is not None and nested_follows != at_call:
        raise SnapshotValidationError(
            f"instance {instance_id!r}: the saved frame of {saved.function} at {name!r} does not "
            "match the frames saved after it"
        )
    needed = set(program.start_live) if info is None else set(info.live)
    allowed = needed if info is None else needed | set(info.maybe)
    if needed <= have <= allowed:
        return
    problem = (
        f"at {name!r} the code needs the variables {sorted(needed)}"
        f"{f' (and may use {sorted(allowed - needed)})' if allowed != needed else ''}, "
        f"but the snapshot holds {sorted(have)} (missing: {sorted(needed - have)}, "
        f"unexpected: {sorted(have - allowed)})"
    )
    if saved.fingerprint == program.fingerprint:
        raise SnapshotValidationError(
            f"instance {instance_id!r}: the saved frame of {saved.function} {problem}; it was "
            "left as it is: restore it from a backup or delete the instance"
        )
    raise _refusal(instance_id, program, saved, problem)


def _refusal(
    instance_id: str, program: ResumableCode, saved: FunctionCall, problem: str
) -> IncompatibleSnapshotError:
    return IncompatibleSnapshotError(
        f"instance {instance_id!r} cannot resume under the current code of {saved.function}: "
        f"it was saved by version {saved.version!r} (fingerprint {saved.fingerprint}), the code "
        f"is now version {program.version!r} (fingerprint {program.fingerprint}); {problem}. "
        "The saved state is unchanged: finish the instance with the previous code, or give the "
        f"function a new version= and register a migration for it with "
        f"@{program.name.rsplit(':', 1)[-1]}.migration(from_version={saved.version!r})"
    )


# -- lookups ---------------------------------------------------------------------------------


def _program(instance_id: str, saved: FunctionCall, registry: Mapping[str, C]) -> C:
    program = registry.get(saved.function)
    if program is None:
        raise IncompatibleSnapshotError(
            f"instance {instance_id!r} has a frame of {saved.function}, which is not a durable "
            "function in this process; import the module that defines it before resuming"
        )
    return program


def _point_by_id(instance_id: str, program: ResumableCode, saved: FunctionCall) -> int:
    if saved.resume_point == 0 or any(p.id == saved.resume_point for p in program.points):
        return saved.resume_point
    raise SnapshotValidationError(
        f"instance {instance_id!r}: the saved frame of {saved.function} resumes at point "
        f"{saved.resume_point}, which the code does not have"
    )


def _point_by_name(program: ResumableCode, name: str) -> int | None:
    if name == START:
        return 0
    return next((p.id for p in program.points if p.name == name), None)


def _names(program: ResumableCode) -> list[str]:
    return [START, *(p.name for p in program.points)]


def _decode_locals(
    instance_id: str, saved: FunctionCall, program: ResumableCode, decoder: Decoder
) -> dict[str, Any]:
    changed = saved.fingerprint != program.fingerprint
    values = {}
    for name, data in saved.locals.items():
        try:
            values[name] = decoder.decode(data)
        except DecodeError as e:
            if changed:
                raise _refusal(
                    instance_id, program, saved, f"the saved value of {name!r} no longer loads: {e}"
                ) from None
            raise corrupt(instance_id, e) from None
    return values


def _decode(instance_id: str, decoder: Decoder, data: Any) -> Any:
    try:
        return decoder.decode(data)
    except DecodeError as e:
        raise corrupt(instance_id, e) from None


def corrupt(instance_id: str, e: Exception) -> SnapshotValidationError:
    return SnapshotValidationError(
        f"instance {instance_id!r}: the saved values cannot be read ({e}); the state was left "
        "as it is: restore it from a backup or delete the instance"
    )
