"""Steps: side effects that must not repeat, run at least once per attempt, with retries.

``receipt = await charge(card, amount)`` inside a durable function, where ``charge`` is a
``@durable.step``: the step runs (an ``async def`` on the event loop, a plain ``def`` in a
worker thread); once it returns, its result is saved with the checkpoint that follows at
once, and the step never runs again for that instance. When an attempt raises and the
`RetryPolicy` allows another, the instance waits on a durable timer (`RetryWait`) with the
step's arguments saved as a frame below the caller's, so a retry scheduled for in an hour
survives a restart and the attempt count survives crashes. When attempts run out (or at
once for a non-retryable type) the last exception is raised at the call site, unchanged.

A crash *during* an attempt runs that attempt again: at least once per attempt. The
idempotency key (`current_step().idempotency_key`) is the same for every attempt and every
re-run, for the remote side to de-duplicate.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

import anyio.to_thread

from .._importname import saved_name
from .._model import FunctionCall, RetryWait, Wait
from .._model._codec import UnencodableValue, encoding
from ..errors import InvalidWaitError, UnserializableStateError
from ._registry import registry
from ._resolve import Resolved
from ._waits import Primitive, cancellation

if TYPE_CHECKING:
    from ._engine import _Frame

__all__ = ["RetryPolicy", "Step", "StepInfo", "current_step", "step"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class RetryPolicy:
    """How a step is retried: up to `max_attempts` attempts in all; before attempt n + 1 the
    instance waits ``min(initial_interval * backoff ** (n - 1), max_interval)`` seconds (with
    `jitter`, a random 50-100% of it); an exception of a `non_retryable` type is raised at
    once."""

    max_attempts: int = 3
    initial_interval: float = 1.0
    backoff: float = 2.0
    max_interval: float = 60.0
    jitter: bool = True
    non_retryable: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        attempts: object = self.max_attempts
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            raise InvalidWaitError(f"max_attempts must be at least 1, not {self.max_attempts!r}")
        for field in ("initial_interval", "max_interval"):
            if not getattr(self, field) >= 0:
                raise InvalidWaitError(f"{field} must be >= 0, not {getattr(self, field)!r}")
        if not self.backoff >= 1:
            raise InvalidWaitError(f"backoff must be >= 1, not {self.backoff!r}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based)."""
        base = min(self.initial_interval * self.backoff ** (attempt - 1), self.max_interval)
        return base * random.uniform(0.5, 1.0) if self.jitter else base


NO_RETRY = RetryPolicy(max_attempts=1)


@dataclass(frozen=True)
class StepInfo:
    """What a running step knows of itself (`durable.current_step()`)."""

    instance_id: str
    step: str
    attempt: int  # 1-based
    idempotency_key: str  # the same for every attempt of this call, and across crashes


_current: contextvars.ContextVar[StepInfo] = contextvars.ContextVar("durable_step")


def current_step() -> StepInfo:
    """The step running now: its instance, attempt and idempotency key."""
    info = _current.get(None)
    if info is None:
        raise LookupError("durable.current_step() is only available inside a running step")
    return info


class Step(Primitive, Generic[P, R]):
    """A function made a durable step by `durable.step`."""

    def __init__(self, fn: Callable[P, Any], retry: RetryPolicy | None) -> None:
        target: object = fn
        if not callable(target) or inspect.isclass(target):
            raise InvalidWaitError(f"@durable.step decorates a function, not {fn!r}")
        if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
            raise InvalidWaitError(f"a step cannot be a generator: {fn!r}")
        self.fn = fn
        self.retry = retry if retry is not None else NO_RETRY
        self.name = saved_name(fn)  # a step of a script run as __main__: its importable name
        self.fingerprint = "step"  # a step's code may change under a waiting instance
        self._signature = inspect.signature(fn, follow_wrapped=False)
        self.start_live = tuple(self._signature.parameters)
        code = getattr(fn, "__code__", None)
        self.filename = getattr(code, "co_filename", "<unknown>")
        self.lineno = getattr(code, "co_firstlineno", 0)
        self._async = inspect.iscoroutinefunction(fn)
        functools.update_wrapper(self, fn)
        registry[self.name] = self

    def __repr__(self) -> str:
        return f"<durable step {self.name}>"

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Awaited outside a durable function, a step is just its function (no retries)."""
        values = self._bind(args, kwargs)
        return await self._invoke(values)  # type: ignore[no-any-return]

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self.name}: {e}") from None
        bound.apply_defaults()
        return dict(bound.arguments)

    async def _invoke(self, values: dict[str, Any]) -> Any:
        bound = inspect.BoundArguments(self._signature, values)  # type: ignore[arg-type,unused-ignore]
        if self._async:
            return await self.fn(*bound.args, **bound.kwargs)
        call = functools.partial(self.fn, *bound.args, **bound.kwargs)
        return await anyio.to_thread.run_sync(contextvars.copy_context().run, call)

    async def reach(self, frame: _Frame, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        values = self._bind(args, kwargs)
        run = frame.run
        key = f"{run.instance_id}/{run.seq}/{frame.program.name}/{frame.point}"
        return await self._attempts(frame, values, 1, key)

    async def resume_frame(
        self, frame: _Frame, values: dict[str, Any], delivery: tuple[Wait, Resolved] | None
    ) -> Any:
        wait, resolved = delivery if delivery is not None else (None, None)
        if not isinstance(wait, RetryWait) or resolved is None:
            raise InvalidWaitError(f"{self.name}: a saved step frame without its retry")
        if resolved.how == "cancelled":
            raise cancellation(frame.run.instance_id)
        return await self._attempts(frame, values, wait.attempt + 1, wait.key)

    async def _attempts(self, frame: _Frame, values: dict[str, Any], attempt: int, key: str) -> Any:
        """Run attempts from `attempt` until one returns, attempts run out, or a retry must
        wait (then the run unwinds: `_Suspend`)."""
        run = frame.run
        while True:
            run.note("step.started", frame.program, frame.point, step=self.name, attempt=attempt)
            token = _current.set(StepInfo(run.instance_id, self.name, attempt, key))
            try:
                value = await self._invoke(values)
            except Exception as e:
                if attempt >= self.retry.max_attempts or isinstance(e, self.retry.non_retryable):
                    await self._failed(frame, e, attempt)
                    raise
                await self._retry_later(frame, values, e, attempt, key)
                attempt += 1
                continue
            finally:
                _current.reset(token)
            frame.done, frame.done_program = ("returned", value), self
            run.note("step.completed", frame.program, frame.point, step=self.name, attempt=attempt)
            await run.guarded(run.checkpoint("running"))
            return value

    async def _failed(self, frame: _Frame, error: Exception, attempt: int) -> None:
        run = frame.run
        fields = {"step": self.name, "attempt": attempt, "error": _describe(error)}
        run.note("step.failed", frame.program, frame.point, final=True, **fields)
        frame.done, frame.done_program = ("raised", error), self
        await run.guarded(run.checkpoint_if_possible())

    async def _retry_later(
        self, frame: _Frame, values: dict[str, Any], error: Exception, attempt: int, key: str
    ) -> None:
        """Wait (durably) for the next attempt; return when it is due."""
        run = frame.run
        fields = {"step": self.name, "attempt": attempt, "error": _describe(error)}
        run.note("step.failed", frame.program, frame.point, final=False, **fields)
        at = run.backend.clock.now() + timedelta(seconds=self.retry.delay(attempt))
        wait = RetryWait(step=self.name, attempt=attempt, next_attempt_at=at, key=key)
        retry = {"step": self.name, "attempt": attempt + 1, "at": at.isoformat()}
        run.note("step.retry_scheduled", frame.program, frame.point, **retry)
        resolved = await frame.wait(wait, extra=self._frame(frame, values))
        if resolved.how == "cancelled":
            raise cancellation(run.instance_id)

    def _frame(self, frame: _Frame, values: dict[str, Any]) -> FunctionCall:
        """The saved frame of this step between attempts: its bound arguments."""
        encoded = {}
        with encoding() as encoder:
            for name, value in values.items():
                try:
                    encoded[name] = encoder.encode(value, name)
                except UnencodableValue as e:
                    raise UnserializableStateError(
                        f"instance {frame.run.instance_id!r}: cannot save argument {name!r} "
                        f"of step {self.name} (type {e.type_name}) to retry it later: "
                        f"{e.reason}"
                    ) from None
        return FunctionCall(
            function=self.name,
            fingerprint=self.fingerprint,
            resume_point=0,
            filename=self.filename,
            lineno=self.lineno,
            locals=encoded,
        )


def _describe(error: BaseException) -> str:
    return f"{type(error).__qualname__}: {error}"


@overload
def step(fn: Callable[P, Awaitable[R]], /) -> Step[P, R]: ...
@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...
@overload
def step(*, retry: RetryPolicy | None = None) -> Callable[[Callable[P, Any]], Step[P, Any]]: ...


def step(fn: Any = None, /, *, retry: RetryPolicy | None = None) -> Any:
    """Make `fn` (``async def`` or ``def``) a durable step: ``@durable.step`` or
    ``@durable.step(retry=durable.RetryPolicy(...))``. See the module docstring."""
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise InvalidWaitError(f"retry= takes a durable.RetryPolicy, not {retry!r}")
    if fn is None:
        return lambda f: Step(f, retry)
    return Step(fn, retry)
