"""Running durable functions: programs, frames, checkpoints and resume.

A `DurableProgram` wraps the transformed function. A call with an `instance_id` hands it to a
`DurableRuntime`, which loads the instance's snapshot (or starts it), then runs one `_Run`:
the root frame's generated function is called with a `_Frame`, and nested durable calls call
their own generated functions with child frames, so the Python stack nests naturally and
exceptions cross durable frames natively.

Checkpoints (DESIGN §3): at the start (arguments), at every pause, when a nested durable call
is entered and when it returns, and at the end (result or exception). Each checkpoint encodes
the live values of every frame on the stack, innermost last, with one codec table so that
shared objects stay shared.

Invariant: a frame's ``point``/``live`` always describe where it would resume if a checkpoint
were taken now: the innermost frame at its last point (or 0 with its arguments), every outer
frame at the call point it is waiting in.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import json
import time
import traceback
import types
from collections.abc import Awaitable, Generator
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from ._program import DurableProgram

from .._model import (
    FORMAT_VERSION,
    CallStack,
    ChildrenWait,
    EventWait,
    FunctionCall,
    InstanceHeader,
    ProgramIdentity,
    Snapshot,
    Status,
    Wait,
    header_of,
    wait_wake_at,
)
from .._model._codec import DecodeError, Encoder, UnencodableValue, decoding, encoding
from .._tracing import emit
from .._transform import CompiledFunction
from ..errors import (
    DurableError,
    IncompatibleSnapshotError,
    InstanceCancelledError,
    InstanceNotFoundError,
    InvalidInstanceIdError,
    PauseForEventException,
    RaisedAtWait,
    SnapshotValidationError,
    Suspended,
    UnserializableStateError,
    UnsupportedSyntaxError,
    _Abort,
    _Suspend,
)
from ..stores import InboxEvent
from ._backend import OrchestrationBackend
from ._registry import ProgramBase, registry
from ._resolve import Resolved, resolve
from ._upgrade import (
    START,
    PlannedFrame,
    corrupt,
    plan_stack,
)
from ._waits import Primitive, cancellation, deliver

__all__ = ["DurableRuntime", "arguments_digest", "current_run"]

T = TypeVar("T")

current_run: contextvars.ContextVar[_Run] = contextvars.ContextVar("durable_run")


class DurableRuntime:
    """Runs durable programs against one `OrchestrationBackend`."""

    def __init__(self, backend: OrchestrationBackend) -> None:
        self.backend = backend

    async def run(
        self,
        program: DurableProgram[Any, Any],
        instance_id: str,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        parent: str | None = None,
        start: bool = True,
    ) -> Any:
        """Start `instance_id`, or continue it from its last checkpoint, or return its result.

        The arguments (and `parent`, the instance that started it) are used only when the
        instance starts; with ``start=False`` an instance without saved state raises
        `InstanceNotFoundError` instead of starting.
        """
        if not isinstance(instance_id, str):
            raise InvalidInstanceIdError(
                f"instance ids are strings, not {type(instance_id).__name__}: {instance_id!r}"
            )
        loaded = await self.backend.load_instance(instance_id)
        snap = loaded.snapshot
        if snap is None:
            if not start:
                raise InstanceNotFoundError(
                    f"instance {instance_id!r} has no saved state: start it first"
                )
            arguments = program.bind(args, kwargs or {})
            return await self._start(program, instance_id, arguments, parent)
        _check_identity(instance_id, program, snap)
        if snap.status == "completed":
            return _decode_outcome(instance_id, snap)
        if snap.status in ("failed", "cancelled"):
            raise _decode_outcome(instance_id, snap)
        return await self._resume(program, snap, loaded.inbox)

    async def _start(
        self,
        program: DurableProgram[Any, Any],
        instance_id: str,
        arguments: dict[str, Any],
        parent: str | None,
    ) -> Any:
        now = self.backend.clock.now()
        run = _Run(self.backend, program, instance_id, seq=0, created_at=now, consumed=set())
        run.parent = parent
        root = _Frame(run, program, 0, arguments)
        run.stack.append(root)
        run.note("instance.started", program, 0, **arguments_digest(arguments))
        await run.checkpoint("running")
        return await run.execute(root)

    async def _resume(
        self,
        program: DurableProgram[Any, Any],
        snap: Snapshot,
        inbox: tuple[InboxEvent, ...] | None,
    ) -> Any:
        # Planning decodes and checks every frame against the current code before the wait is
        # looked at: code that can no longer resume the instance is refused at the first call,
        # not when its event arrives. Planning writes nothing.
        planned = plan_stack(snap.instance_id, snap, registry)
        # Ids the snapshot names as consumed are never taken again, and never carried into
        # the next snapshot (the backend deleted them when it loaded this one): a snapshot
        # names only what its own run consumed, so it does not grow with history.
        consumed: set[str] = set()
        fields: dict[str, Any] = {}
        if snap.status == "paused" and snap.wait is not None:
            now = self.backend.clock.now()
            exclude = snap.consumed_events
            resolved = resolve(snap.wait, inbox, now, exclude=exclude, resuming=True)
            if resolved is None and isinstance(snap.wait, ChildrenWait):
                resolved = Resolved("children")  # the parent's await drives its children
            fields = _wait_fields(snap.wait)
            if resolved is None:
                # The inbox was read with the state: an event published after that load is
                # found by the next call.
                emit(
                    "instance.still_waiting",
                    instance_id=snap.instance_id,
                    program=program.name,
                    seq=snap.seq,
                    **fields,
                )
                raise suspension(snap.instance_id, snap.wait)
            if resolved.event is not None:
                consumed.add(resolved.event.id)
            elif isinstance(snap.wait, EventWait) and inbox is None:
                consumed.add(snap.wait.name)  # a backend without inbox: the call delivered it
            delivery = (snap.wait, resolved)
        else:
            delivery = None
        run = _Run(
            self.backend,
            program,
            snap.instance_id,
            seq=snap.seq,
            created_at=snap.created_at,
            consumed=consumed,
        )
        run.stale = set(snap.consumed_events)
        run.delivery = delivery
        run.parent = snap.parent
        root = run.restore(planned)
        last = snap.call_stack.frames[-1]
        innermost = registry.get(last.function, program)
        run.note("instance.resumed", innermost, last.resume_point, **fields)
        for event_id in sorted(consumed):
            run.note("event.consumed", innermost, last.resume_point, event_id=event_id, **fields)
        if delivery is not None and delivery[1].how == "cancelled" and _at_statement(planned):
            # A `raise PauseForEventException` pause is a statement: nothing there can raise
            # the cancellation, so the instance ends as cancelled without running more code.
            return await run.execute(root, cancel_first=True)
        return await run.execute(root)


class _Run:
    """One execution of an instance, from a load (or start) to a pause or the end."""

    def __init__(
        self,
        backend: OrchestrationBackend,
        program: DurableProgram[Any, Any],
        instance_id: str,
        *,
        seq: int,
        created_at: datetime,
        consumed: set[str],
    ) -> None:
        self.backend = backend
        self.program = program
        self.instance_id = instance_id
        self.seq = seq
        self.created_at = created_at
        self.parent: str | None = None  # the instance that started this one (`gather`)
        self.consumed = consumed  # ids taken from the inbox, to name in the next save
        self.stale: set[str] = set()  # ids an earlier run consumed: never to be taken again
        self.stack: list[_Frame] = []
        self.suspending = False
        self.history: list[dict[str, Any]] = []  # entries the next save appends
        self.held: list[tuple[str, dict[str, Any]]] | None = None  # emits `note` holds back
        self.block_started = time.perf_counter()
        # The wait the instance resumes from and how it resolved, for the innermost frame's
        # `resume` (a primitive awaited at a call point takes its value from here).
        self.delivery: tuple[Wait, Resolved] | None = None

    def note(self, kind: str, program: DurableProgram[Any, Any], point: int, **fields: Any) -> None:
        """Emit event `kind` and keep it for the instance's audit history.

        Its ``seq`` is that of the checkpoint that will persist it (the next save).
        """
        where = {"function": program.name, "point": point, "seq": self.seq + 1}
        level = fields.pop("level", "info")
        log: dict[str, Any] = {"instance_id": self.instance_id, "program": self.program.name}
        if self.held is None:
            emit(kind, level=level, **log, **where, **fields)
        else:
            self.held.append((kind, {"level": level, **log, **where, **fields}))
        at = self.backend.clock.now().isoformat()
        self.history.append({"at": at, "kind": kind, **where, **fields})

    # -- running -----------------------------------------------------------------------------

    async def execute(self, root: _Frame, *, cancel_first: bool = False) -> Any:
        token = current_run.set(self)
        try:
            if cancel_first:
                raise cancellation(self.instance_id)
            result = await root.program._compiled.impl(root)
        except _Suspend as s:
            raise suspension(self.instance_id, s.wait) from None
        except _Abort as a:
            raise a.error from a.error.__cause__
        except RaisedAtWait as e:  # raised at a wait, as if by the user's code
            await self.finish(
                "cancelled" if isinstance(e, InstanceCancelledError) else "failed", error=e
            )
            raise
        except DurableError:
            raise  # our own failures never become the instance's outcome
        except PauseForEventException as e:
            raise _pause_outside_durable_code(self.program, e) from e
        except Exception as e:
            await self.finish("failed", error=e)
            raise
        finally:
            current_run.reset(token)
        await self.finish("completed", result=result)
        return result

    async def enter(self, parent: _Frame, child: _Frame, *, fresh: bool) -> Any:
        """Run a nested durable call; checkpoint when it starts and when it ends."""
        if fresh:
            self._note_block()  # the caller's block, up to the call
        self.stack.append(child)
        if fresh:
            self.note("call.entered", child.program, 0, caller=parent.program.name)
            await self.guarded(self.checkpoint("running", block=False))
        try:
            value = await child.program._compiled.impl(child)
        except _Suspend:
            raise
        except Exception as e:
            self.stack.pop()
            parent.done = ("raised", e)
            if not isinstance(e, DurableError) or isinstance(e, RaisedAtWait):
                self.note("call.returned", child.program, child.point, outcome="raised")
                await self.guarded(self.checkpoint_if_possible())
            raise
        self.stack.pop()
        parent.done = ("returned", value)
        self.note("call.returned", child.program, child.point, outcome="returned")
        await self.guarded(self.checkpoint("running"))
        return value

    async def shielded(self, work: Awaitable[T]) -> T:
        """Await a primitive inside user code: its own failures (a DurableError that is not
        raised at a wait on purpose) abort the run past the user's handlers (`_Abort`)."""
        try:
            return await work
        except RaisedAtWait:
            raise
        except DurableError as e:
            self.suspending = True
            raise _Abort(e) from None

    async def guarded(self, step: Awaitable[T]) -> T:
        """Await a checkpoint taken inside user code; a failure aborts the run (`_Abort`)."""
        try:
            return await step
        except Exception as e:
            self.suspending = True
            raise _Abort(e) from None

    async def inline(
        self, program: DurableProgram[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """A durable call where no pause can be saved (inside `with`, a comprehension...)."""
        frame = _Frame(self, program, 0, program.bind(args, kwargs), inline=True)
        return await program._compiled.impl(frame)

    def restore(self, planned: list[PlannedFrame[DurableProgram[Any, Any]]]) -> _Frame:
        """Rebuild the frames of a planned call stack; the root frame."""
        for p in planned:
            if p.how != "same":
                kind = "migration.applied" if p.how == "migrated" else "snapshot.upgraded"
                self.note(
                    kind,
                    p.program,
                    p.point,
                    level="warning",
                    from_fingerprint=p.saved.fingerprint,
                    to_fingerprint=p.program.fingerprint,
                    from_version=p.saved.version,
                    to_version=p.program.version,
                    steps=list(p.steps),
                )
        root_plan, rest = planned[0], planned[1:]
        root = _Frame(self, root_plan.program, root_plan.point, root_plan.values)
        root.pending = rest
        self.stack.append(root)
        return root

    # -- checkpoints -------------------------------------------------------------------------

    async def checkpoint(self, status: Status, *, block: bool = True) -> None:
        if block:
            self._note_block()
        await self._save(status, self._encode_stack())

    async def pause_unless_resolved(
        self,
        program: DurableProgram[Any, Any],
        point: int,
        wait: Wait,
        extra: FunctionCall | None = None,
    ) -> Resolved | None:
        """Save the pause at `point` on `wait`, unless the wait can be resolved now: then
        save nothing and return how (the run takes it and goes on).

        One trip to the backend (`commit_wait`); the pause's trace events are emitted only
        once it is saved.
        """
        mark = len(self.history)
        self.held = []
        try:
            self.note("instance.paused", program, point, **_wait_fields(wait))
            self._note_block()
            stack = self._encode_stack(extra)
        finally:
            held, self.held = self.held, None
        state, header = self._state("paused", stack, wait=wait)
        started = time.perf_counter()
        try:
            resolved = await self.backend.commit_wait(
                self.instance_id, state, header, self.history, wait, self.consumed | self.stale
            )
        except BaseException:
            self.seq -= 1
            raise
        if resolved is not None:
            self.seq -= 1
            del self.history[mark:]
            return resolved
        for kind, fields in held:
            emit(kind, **fields)
        self._saved("paused", started)
        return None

    def _encode_stack(self, extra: FunctionCall | None = None) -> CallStack:
        """The saved call stack; `extra` is a frame below the innermost one (a step waiting
        for its next attempt)."""
        with encoding() as encoder:
            frames = [self._encode_frame(encoder, f) for f in self.stack]
            innermost = self.stack[-1]
            if innermost.done is not None:
                frames.append(self._encode_done(encoder, innermost))
        if extra is not None:
            frames.append(extra)
        return CallStack(frames=frames)

    async def checkpoint_if_possible(self) -> None:
        # The exception propagates anyway; if it cannot be saved, the last good snapshot stays.
        with contextlib.suppress(UnserializableStateError):
            await self.checkpoint("running")

    async def finish(
        self, status: Status, *, result: Any = None, error: BaseException | None = None
    ) -> None:
        self._note_block()
        kind = {"failed": "instance.failed", "cancelled": "instance.cancelled"}.get(
            status, "instance.completed"
        )
        detail = {"error": f"{type(error).__qualname__}: {error}"} if error is not None else {}
        self.note(kind, self.program, self.stack[0].point if self.stack else 0, **detail)
        if error is not None:
            with encoding() as encoder:
                encoded_error = _encode_exception(encoder, error)
            await self._save(status, CallStack(frames=[]), error=encoded_error)
            return
        try:
            with encoding() as encoder:
                encoded = encoder.encode(result, "return value")
        except UnencodableValue as e:
            raise self._unserializable(e, self.program, None, "the return value") from None
        await self._save(status, CallStack(frames=[]), result=encoded)

    async def _save(
        self,
        status: Status,
        stack: CallStack,
        *,
        result: Any = None,
        error: Any = None,
    ) -> None:
        state, header = self._state(status, stack, result=result, error=error)
        started = time.perf_counter()
        try:
            await self.backend.commit(self.instance_id, state, header, self.history)
        except BaseException:
            self.seq -= 1
            raise
        self._saved(status, started)

    def _state(
        self,
        status: Status,
        stack: CallStack,
        *,
        wait: Wait | None = None,
        result: Any = None,
        error: Any = None,
    ) -> tuple[dict[str, Any], InstanceHeader]:
        """The next checkpoint's state and header (its `seq` counted; uncount it if it is not
        saved)."""
        self.seq += 1
        snap = Snapshot.model_construct(
            format_version=FORMAT_VERSION,
            instance_id=self.instance_id,
            program=ProgramIdentity(
                qualname=self.program.name,
                fingerprint=self.program.fingerprint,
                version=self.program.version,
            ),
            seq=self.seq,
            status=status,
            call_stack=stack,
            wait=wait,
            parent=self.parent,
            result=result,
            error=error,
            consumed_events=sorted(self.consumed),
            created_at=self.created_at,
            updated_at=self.backend.clock.now(),
        )
        return snap.model_dump(mode="json"), header_of(snap)

    def _saved(self, status: Status, started: float) -> None:
        self.consumed = set()
        self.history = []
        self.block_started = time.perf_counter()
        frame = self.stack[-1] if self.stack else None
        emit(
            "checkpoint.saved",
            instance_id=self.instance_id,
            program=self.program.name,
            function=(frame.program if frame else self.program).name,
            point=frame.point if frame else 0,
            seq=self.seq,
            status=status,
            duration_ms=_ms(time.perf_counter() - started),
        )

    def _note_block(self) -> None:
        frame = self.stack[-1] if self.stack else None
        program = frame.program if frame else self.program
        duration = _ms(time.perf_counter() - self.block_started)
        self.note("block.completed", program, frame.point if frame else 0, duration_ms=duration)

    def _encode_frame(self, encoder: Encoder, frame: _Frame) -> FunctionCall:
        compiled = frame.program._compiled
        encoded = {}
        for name, value in frame.live.items():
            try:
                encoded[name] = encoder.encode(value, name)
            except UnencodableValue as e:
                raise self._unserializable(e, frame.program, frame.point, name) from None
        return FunctionCall(
            function=frame.program.name,
            fingerprint=compiled.fingerprint,
            version=frame.program.version,
            resume_point=frame.point,
            point_name=_point_name(compiled, frame.point),
            point_peers=_point_peers(compiled, frame.point),
            filename=compiled.filename,
            lineno=_point_line(compiled, frame.point),
            locals=encoded,
        )

    def _encode_done(self, encoder: Encoder, parent: _Frame) -> FunctionCall:
        assert parent.done is not None and parent.done_program is not None
        outcome, value = parent.done
        done = parent.done_program
        if outcome == "raised":
            assert isinstance(value, BaseException)
            encoded = _encode_exception(encoder, value)
        else:
            try:
                encoded = encoder.encode(value, "return value")
            except UnencodableValue as e:
                if isinstance(done, Primitive):
                    raise UnserializableStateError(
                        f"instance {self.instance_id!r}: cannot save the result of {done.name} "
                        f"(type {e.type_name}): {e.reason}. The last saved snapshot is kept; "
                        "return a saveable value"
                    ) from None
                raise self._unserializable(e, done, None, "its return value") from None
        return FunctionCall(
            function=done.name,
            fingerprint=done.fingerprint,
            version=done.version,
            resume_point=0,
            filename=done.filename,
            lineno=done.lineno,
            locals={},
            outcome="returned" if outcome == "returned" else "raised",
            value=encoded,
        )

    def _unserializable(
        self,
        e: UnencodableValue,
        program: DurableProgram[Any, Any],
        point: int | None,
        name: str,
    ) -> UnserializableStateError:
        compiled = program._compiled
        what = compiled.hidden.get(name)
        variable = f"{what} (`{name}`)" if what else f"variable {name!r}"
        line = _point_line(compiled, point) if point is not None else compiled.lineno
        where = f" at `{e.path}`" if e.path != name else ""
        return UnserializableStateError(
            f"instance {self.instance_id!r}: cannot save {variable}{where} of type "
            f"{e.type_name} in {program.name} ({compiled.filename}, line {line}): {e.reason}. "
            "The last saved snapshot is kept; make the value saveable or stop it being live here."
        )


class _Frame:
    """The runtime side of one durable function call (the generated code's ``_dur_fr``)."""

    __slots__ = (
        "done",
        "done_program",
        "inline",
        "ip",
        "live",
        "locals",
        "pending",
        "point",
        "program",
        "run",
    )

    def __init__(
        self,
        run: _Run,
        program: DurableProgram[Any, Any],
        ip: int,
        values: dict[str, Any],
        *,
        inline: bool = False,
    ) -> None:
        self.run = run
        self.program = program
        self.ip = ip  # where the generated code starts seeking (0: from the top)
        self.locals = values  # what its prologue restores
        self.point = ip
        self.live = values
        self.inline = inline
        self.pending: list[PlannedFrame[DurableProgram[Any, Any]]] = []
        self.done: tuple[str, Any] | None = None  # a nested call that finished at `point`
        self.done_program: DurableProgram[Any, Any] | Primitive | None = None

    @property
    def suspending(self) -> bool:
        return self.run.suspending

    async def pause(self, point: int, event: str, live: dict[str, Any]) -> None:
        self.refuse_inline(point, f"paused for {event!r}")
        if not isinstance(event, str):
            raise TypeError(f"event names are strings, not {type(event).__name__}: {event!r}")
        self.point, self.live, self.done = point, live, None
        resolved = await self.wait(EventWait(name=event))
        if resolved.how == "cancelled":
            raise cancellation(self.run.instance_id)
        await self.run.guarded(self.run.checkpoint("running"))

    async def wait(self, wait: Wait, extra: FunctionCall | None = None) -> Resolved:
        """Resolve `wait` at this frame's current point, or save the pause there and unwind
        (`_Suspend`): the one way every wait is reached. `extra`: see `_encode_stack`."""
        run = self.run
        resolved = await run.guarded(
            run.pause_unless_resolved(self.program, self.point, wait, extra)
        )
        if resolved is None:
            if isinstance(wait, EventWait):
                await run.guarded(run.backend.wait_for_event(run.instance_id, wait.name))
            run.suspending = True
            raise _Suspend(wait)
        if resolved.event is not None:
            run.consumed.add(resolved.event.id)
            fields = {**_wait_fields(wait), "event_id": resolved.event.id}
            run.note("event.consumed", self.program, self.point, **fields)
        return resolved

    def refuse_inline(self, point: int, what: str) -> None:
        """Where no pause can be saved (inside `with`, a comprehension...), refuse `what`."""
        if not self.inline:
            return
        self.run.suspending = True
        raise _Abort(
            UnsupportedSyntaxError(
                f"{self.program.name} {what} where a pause cannot be saved: called inside "
                "`with`, `async for`, a comprehension, a later `with` item or a plain "
                "coroutine; await it directly from the durable function",
                filename=self.program._compiled.filename,
                lineno=_point_line(self.program._compiled, point),
            )
        )

    # `call` and `resume` are plain methods returning what the generated code awaits (the
    # child's `enter`, the plain coroutine...), not coroutines awaiting it: no frame of theirs
    # stays on the stack under a nested call, so recursion through durable calls costs two
    # Python frames per level (the generated function and `_Run.enter`), not three.

    def call(
        self, point: int, live: dict[str, Any], func: Any, /, *args: Any, **kwargs: Any
    ) -> Awaitable[Any]:
        if isinstance(func, functools.partial) and isinstance(func.func, ProgramBase):
            args, kwargs = (*func.args, *args), {**func.keywords, **kwargs}  # a bound method
            func = func.func
        elif isinstance(func, types.MethodType) and isinstance(func.__func__, ProgramBase):
            args, func = (func.__self__, *args), func.__func__  # a classmethod (3.13+)
        if isinstance(func, Primitive):
            self.refuse_inline(point, f"awaited {func.name}")
            self.point, self.live, self.done = point, live, None
            return self.run.shielded(func.reach(self, args, kwargs))
        if not isinstance(func, ProgramBase) or "instance_id" in kwargs:
            # a plain await, or another instance's root call
            return cast("Awaitable[Any]", func(*args, **kwargs))
        func = cast("DurableProgram[Any, Any]", func)
        if self.inline:
            return self.run.inline(func, args, kwargs)
        self.point, self.live, self.done = point, live, None
        self.done_program = func
        child = _Frame(self.run, func, 0, func.bind(args, kwargs))
        return self.run.enter(self, child, fresh=True)

    def resume(self, point: int, live: dict[str, Any]) -> Awaitable[Any]:
        self.point, self.live, self.done = point, live, None
        if not self.pending and self.run.delivery is not None:
            (wait, resolved), self.run.delivery = self.run.delivery, None
            return self.run.shielded(deliver(self, wait, resolved))
        if not self.pending:
            self.run.suspending = True
            raise _Abort(
                SnapshotValidationError(
                    f"instance {self.run.instance_id!r}: {self.program.name} resumes in a nested "
                    "call at line {line} but the snapshot holds no frame for it".format(
                        line=_point_line(self.program._compiled, point)
                    )
                )
            )
        plan, *rest = self.pending
        self.pending = []
        self.done_program = plan.program
        if plan.saved.outcome == "returned":
            self.done = ("returned", plan.value)
            return _Ready(plan.value)
        if plan.saved.outcome == "raised":
            self.done = ("raised", plan.value)
            raise plan.value
        if isinstance(plan.program, Primitive):  # a step between two attempts
            delivery, self.run.delivery = self.run.delivery, None
            return self.run.shielded(plan.program.resume_frame(self, plan.values, delivery))
        child = _Frame(self.run, plan.program, plan.point, plan.values)
        child.pending = rest
        return self.run.enter(self, child, fresh=False)


class _Ready:
    """An awaitable that is already done: what `_Frame.resume` gives for a finished call."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        return self.value
        yield  # a generator that returns at once


# -- helpers -------------------------------------------------------------------------------


def _point_line(compiled: CompiledFunction, point: int | None) -> int:
    for p in compiled.points:
        if p.id == point:
            return p.lineno
    return compiled.lineno


def _check_identity(instance_id: str, program: DurableProgram[Any, Any], snap: Snapshot) -> None:
    saved = snap.program
    if saved.qualname != program.name:
        module = program.name.partition(":")[0]
        rehome = (
            f" (saved by a script run as __main__: 'durable rehome --module {module}' renames it)"
            if saved.qualname.startswith("__main__:") and ":" in program.name
            else ""
        )
        raise IncompatibleSnapshotError(
            f"instance {instance_id!r} belongs to {saved.qualname}, not {program.name}; "
            f"call it through the function that started it{rehome}"
        )


def _pause_outside_durable_code(
    program: DurableProgram[Any, Any], e: PauseForEventException
) -> UnsupportedSyntaxError:
    """A pause raised by a plain coroutine: it cannot be resumed where it was raised."""
    tb = traceback.extract_tb(e.__traceback__)
    origin = tb[-1] if tb else None
    compiled = program._compiled
    short = program.name.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
    if origin and origin.filename == compiled.filename and origin.name == short:
        problem = (
            "by a statement make_durable did not recognise as a pause; write it literally as "
            "`raise PauseForEventException(...)` (not through an alias or a variable)"
        )
    else:
        problem = (
            f"by plain code{f' in {origin.name}' if origin else ''}, called from "
            f"{program.name}; only a durable function can pause and resume. Make that "
            "coroutine durable with make_durable and await it from the durable function"
        )
    return UnsupportedSyntaxError(
        f"PauseForEventException({e.event!r}) was raised {problem}. The instance was not changed.",
        filename=origin.filename if origin else "?",
        lineno=(origin.lineno or 0) if origin else 0,
    )


def arguments_digest(arguments: dict[str, Any]) -> dict[str, str]:
    """``{"arguments": digest}`` of the start arguments (those the function reads), encoded as
    they are saved; what the ``instance.started`` history entry keeps, so that a later start
    of the same id can tell other arguments apart. Empty if they cannot be encoded (the
    start's checkpoint then reports why)."""
    try:
        with encoding() as encoder:
            encoded = {name: encoder.encode(value, name) for name, value in arguments.items()}
    except UnencodableValue:
        return {}
    text = json.dumps(encoded, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return {"arguments": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]}


def _point_name(compiled: CompiledFunction, point: int) -> str:
    return next((p.name for p in compiled.points if p.id == point), START)


def _point_peers(compiled: CompiledFunction, point: int) -> int:
    return next((p.peers for p in compiled.points if p.id == point), 1)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _decode_outcome(instance_id: str, snap: Snapshot) -> Any:
    try:
        with decoding() as decoder:
            value = decoder.decode(snap.result if snap.status == "completed" else snap.error)
    except DecodeError as e:
        raise corrupt(instance_id, e) from None
    if snap.status != "completed" and not isinstance(value, Exception):
        raise SnapshotValidationError(f"instance {instance_id!r}: the saved error is invalid")
    return value


def _encode_exception(encoder: Encoder, error: BaseException) -> Any:
    try:
        return encoder.encode(error, "exception")
    except UnencodableValue:
        # The exception cannot be rebuilt exactly (its class or arguments cannot be saved);
        # keep its type name and message so that callers still see what went wrong.
        fallback = RuntimeError(f"{type(error).__module__}.{type(error).__qualname__}: {error}")
        return encoder.encode(fallback, "exception")


def _wait_fields(wait: Wait) -> dict[str, Any]:
    """What trace events and the audit history say about a wait."""
    if isinstance(wait, EventWait):
        fields: dict[str, Any] = {"event_name": wait.name}
        if wait.deadline is not None:
            fields["deadline"] = wait.deadline.isoformat()
        return fields
    wake_at = wait_wake_at(wait)
    return {"wait": wait.kind, **({"wake_at": wake_at.isoformat()} if wake_at else {})}


def suspension(instance_id: str, wait: Any) -> Suspended:
    """What the caller sees when an instance stops on `wait`."""
    wake_at = wait_wake_at(wait)
    if isinstance(wait, EventWait):
        return PauseForEventException(wait.name, instance_id=instance_id, wake_at=wake_at)
    what = f"{wait.kind} until {wake_at.isoformat()}" if wake_at else wait.kind
    return Suspended(
        f"instance {instance_id!r} waits ({what})", instance_id=instance_id, wake_at=wake_at
    )


def _at_statement(planned: list[PlannedFrame[DurableProgram[Any, Any]]]) -> bool:
    """Whether the instance stands at a pause statement (not at an awaited call)."""
    last = planned[-1]
    if last.saved.outcome != "running" or isinstance(last.program, Primitive):
        return False
    return any(p.id == last.point and p.kind == "pause" for p in last.program.points)
