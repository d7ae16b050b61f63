"""Fan-out: ``results = await durable.gather(child(a), child(b), a_step(c))``.

Every argument becomes a child *instance* of its own, with an id derived from the parent's
(``"<parent>/<seq>.<point>.<i>"``: the parent's checkpoint number and call point, stable when
a crash makes the parent reach the same gather again) and a parent link in its header, so
stores, workers and ``durable list`` see each child alone. A step becomes a child running the
step (`_run_step`). The children run concurrently in an anyio task group, each until it
finishes or stops to wait; a wait in one pauses only that branch.

* All finished: the results, in argument order; the parent checkpoints them at once.
* Some wait: the parent saves a pause on `ChildrenWait` and its caller gets one `Suspended`.
  Calling the parent again drives the children again (a finished child answers with its
  saved result, a waiting one raises `Suspended` without running code) until all finish.
* One raises: the others are cancelled (in this process, and durably with `cancel`, so no
  orphan waits for ever), and that exception itself is raised at the gather, unwrapped, as
  ``asyncio.gather`` would (not an ``ExceptionGroup``): one ``except`` clause handles it.

After a crash, reaching the gather again finds the children by their ids: finished ones do
not run again.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import anyio

from .._model import ChildrenWait
from ..errors import DurableError, InvalidWaitError, Suspended, _Suspend
from ._backend import DurableBackend
from ._engine import DurableRuntime
from ._program import DurableProgram, make_durable
from ._registry import registry
from ._resolve import Resolved
from ._steps import Step
from ._waits import CHILDREN, Primitive, cancellation

if TYPE_CHECKING:
    from ._engine import _Frame

__all__ = ["gather"]

Spec = tuple[DurableProgram[Any, Any], tuple[Any, ...], dict[str, Any]]


class _Gather(Primitive):
    name = "durable:gather"

    def __call__(self, *calls: Any) -> Any:
        """``await durable.gather(child(a), child(b), step_x(c), ...)`` inside a durable
        function: run durable programs and steps concurrently as child instances; their
        results in argument order (module docstring)."""
        for call in calls:
            if inspect.iscoroutine(call):
                call.close()
        raise InvalidWaitError("durable.gather can only be awaited inside a durable function")

    async def reach(self, frame: _Frame, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        specs = _specs(args, kwargs)
        run = frame.run
        ids = tuple(f"{run.instance_id}/{run.seq}.{frame.point}.{i}" for i in range(len(specs)))
        if ids:
            run.note("children.started", frame.program, frame.point, children=list(ids))
        results = await _drive(frame, ids, specs) if ids else []
        frame.done, frame.done_program = ("returned", results), self
        run.note("children.finished", frame.program, frame.point, children=list(ids))
        await run.guarded(run.checkpoint("running"))
        return results


async def _drive(frame: _Frame, ids: tuple[str, ...], specs: list[Spec]) -> list[Any]:
    """Start the children and run each until it finishes or waits; the results, or save the
    parent's pause on them (`_Suspend`), or raise the first failure."""
    results, waiting = await _run_children(frame, ids, specs)
    if waiting:
        await frame.wait(ChildrenWait(ids=ids, mode="all"))  # returns only when cancelled
        await _cancel(frame.run.backend, ids)
        raise cancellation(frame.run.instance_id)
    return results


async def _resume(frame: _Frame, wait: ChildrenWait, resolved: Resolved) -> Any:
    """The parent resumes at its gather: drive the children again (or cancel them)."""
    run = frame.run
    if resolved.how == "cancelled":
        await _cancel(run.backend, wait.ids)
        raise cancellation(run.instance_id)
    results, waiting = await _run_children(frame, wait.ids, None)
    if waiting:
        run.suspending = True
        raise _Suspend(wait)  # the parent's saved pause stands as it is
    frame.done, frame.done_program = ("returned", results), gather
    run.note("children.finished", frame.program, frame.point, children=list(wait.ids))
    await run.guarded(run.checkpoint("running"))
    return results


async def _run_children(
    frame: _Frame, ids: tuple[str, ...], specs: list[Spec] | None
) -> tuple[list[Any], bool]:
    """Run (or resume: `specs` None) every child concurrently until each finishes or waits.

    Returns the results and whether any waits; the first failure cancels the others (here
    and durably) and is raised.
    """
    run = frame.run
    runtime = DurableRuntime(run.backend)
    results: list[Any] = [None] * len(ids)
    waiting: list[Suspended] = []
    failures: list[BaseException] = []

    async def child(i: int, instance_id: str) -> None:
        try:
            if specs is None:
                spec: Spec = (await _saved_program(runtime, instance_id), (), {})
            else:
                spec = specs[i]
            program, args, kwargs = spec
            results[i] = await runtime.run(
                program, instance_id, args, kwargs, parent=run.instance_id
            )
        except Suspended as s:
            waiting.append(s)
        except Exception as e:
            if not failures:
                failures.append(e)
                group.cancel_scope.cancel()

    async with anyio.create_task_group() as group:
        for i, instance_id in enumerate(ids):
            group.start_soon(child, i, instance_id)
    if failures:
        await _cancel(run.backend, ids)
        raise failures[0]
    return results, bool(waiting)


async def _saved_program(runtime: DurableRuntime, instance_id: str) -> DurableProgram[Any, Any]:
    """The program a child instance was started with (its snapshot names it)."""
    snapshot = (await runtime.backend.load_instance(instance_id)).snapshot
    if snapshot is None:
        raise InvalidWaitError(f"child instance {instance_id!r} of a gather has no saved state")
    program = registry.get(snapshot.program.qualname)
    if not isinstance(program, DurableProgram):
        raise InvalidWaitError(
            f"child instance {instance_id!r} runs {snapshot.program.qualname}, which is not a "
            "durable function in this process; import the module that defines it"
        )
    return program


async def _cancel(backend: Any, ids: tuple[str, ...]) -> None:
    """Record a cancellation for every child that has not finished."""
    if not isinstance(backend, DurableBackend):
        return
    for instance_id in ids:
        header = await backend._io(backend.store.read_header, instance_id)
        if header is not None and header.status in ("running", "paused"):
            await backend._io(backend.cancel, instance_id)


def _specs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Spec]:
    if kwargs:
        raise InvalidWaitError(f"durable.gather takes calls only, not keywords {sorted(kwargs)}")
    specs = []
    problem = None
    for call in args:
        spec = _spec(call)
        if spec is None and problem is None:
            problem = call
        if inspect.iscoroutine(call):
            call.close()
        if spec is not None:
            specs.append(spec)
    if problem is not None:
        raise InvalidWaitError(
            "durable.gather takes calls of durable functions or steps, not awaited, e.g. "
            f"gather(child(a), charge(b)); got {problem!r}"
        )
    return specs


def _spec(call: object) -> Spec | None:
    """The program and arguments of a not-yet-awaited call of a durable program or step."""
    if not inspect.iscoroutine(call) or call.cr_frame is None:
        return None
    found = call.cr_frame.f_locals
    owner = found.get("self")
    if call.cr_code is _PROGRAM_CALL and isinstance(owner, DurableProgram):
        if found.get("orchestration_backend") is not None or found.get("instance_id"):
            raise InvalidWaitError("calls inside durable.gather take no backend or instance_id")
        return owner, tuple(found["args"]), dict(found["kwargs"])
    if call.cr_code is _STEP_CALL and isinstance(owner, Step):
        return _run_step, (owner.name, tuple(found["args"]), dict(found["kwargs"])), {}
    return None


_PROGRAM_CALL = DurableProgram.__call__.__code__
_STEP_CALL = Step.__call__.__code__


def _step_named(name: str) -> Step[Any, Any]:
    step = registry.get(name)
    if not isinstance(step, Step):
        raise DurableError(f"{name} is not a durable step in this process; import its module")
    return step


async def _step_child(step: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return await _step_named(step)(*args, **kwargs)


_run_step = make_durable(_step_child)
gather = _Gather()
registry[gather.name] = gather
CHILDREN.append(_resume)
