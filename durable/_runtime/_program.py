"""Durable programs: what `make_durable` returns, and the registry of them by name."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar, cast

from .._importname import MAIN, saved_module
from .._model._codec import allow_class_reference, register_functions
from .._tracing import emit
from .._transform import CompiledFunction, PointInfo, compile_durable
from ._backend import OrchestrationBackend
from ._engine import DurableRuntime, current_run
from ._registry import ProgramBase, registry
from ._upgrade import Migration

__all__ = ["CodeBlock", "DurableProgram", "make_durable"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class CodeBlock:
    """The code that runs from one resume point of a durable function to the next checkpoint.

    Block 0 starts at the function's first line with its arguments; every other block starts
    right after a pause or a nested call. ``live`` names the variables saved there.
    """

    id: int
    kind: str  # "start", "pause" or "call"
    lineno: int
    live: tuple[str, ...]
    name: str = "start"  # the point's stable name, what migrations and upgrades match on


class DurableProgram(ProgramBase, Generic[P, R]):
    """A durable function, made by `make_durable`.

    Call it like the original function plus ``orchestration_backend=`` and ``instance_id=``;
    awaited inside another durable function it is a nested durable call.
    """

    def __init__(
        self,
        fn: Callable[P, Coroutine[Any, Any, R]],
        *,
        version: str | None = None,
        name: str | None = None,
    ):
        if not (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)):
            raise TypeError(f"make_durable needs an `async def` function, not {fn!r}")
        _check_name(name)
        self.__wrapped__ = fn
        self._compiled: CompiledFunction = compile_durable(fn)
        # The function's own parameters, even when a decorator such as functools.wraps(other)
        # set its __wrapped__: its code binds them, not other's.
        self._signature = inspect.signature(fn, follow_wrapped=False)
        module = saved_module(fn.__module__, fn.__globals__)
        self.name = f"{module}:{fn.__qualname__}" if name is None else name
        if module == MAIN and name is None:
            emit(
                "program.unstable_name",
                level="warning",
                program=self.name,
                advice=f"{self._compiled.filename} has no importable module name, so a worker "
                "in another process will not find this program; pass make_durable(fn, name=...)",
            )
        register_functions(
            self.name, self._compiled.fingerprint, fn.__globals__, self._compiled.functions
        )
        self.version = version
        self._migrations: dict[str | None, tuple[str | None, Migration]] = {}
        owner, dot, _ = fn.__qualname__.rpartition(".")
        if dot and "<" not in owner:  # a method: its class may be live as `cls`
            allow_class_reference(f"{module}:{owner}")
        functools.update_wrapper(self, fn)
        self.__signature__ = self._signature  # inspect.signature stops here, not at __wrapped__
        registry[self.name] = self

    @property
    def fingerprint(self) -> str:
        return self._compiled.fingerprint

    @property
    def points(self) -> tuple[PointInfo, ...]:
        """The resume points of the code after the start, as the transformer found them."""
        return self._compiled.points

    @property
    def filename(self) -> str:
        return self._compiled.filename

    @property
    def lineno(self) -> int:
        return self._compiled.lineno

    @property
    def start_live(self) -> tuple[str, ...]:
        """The parameters the code reads: what the start saves."""
        return self._compiled.start_live

    @property
    def code_blocks(self) -> list[CodeBlock]:
        c = self._compiled
        blocks = [CodeBlock(0, "start", c.lineno, c.start_live)]
        blocks += [CodeBlock(p.id, p.kind, p.lineno, p.live + p.maybe, p.name) for p in c.points]
        return blocks

    def __repr__(self) -> str:
        return f"<DurableProgram {self.name}>"

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        """As a method: ``obj.method(...)`` passes ``obj`` as the first argument."""
        if instance is None:
            return self
        return functools.partial(self, instance)

    async def __call__(
        self,
        *args: Any,
        orchestration_backend: OrchestrationBackend | None = None,
        instance_id: str | None = None,
        **kwargs: Any,
    ) -> R:
        if orchestration_backend is None or instance_id is None:
            run = current_run.get(None)
            if run is None:
                raise TypeError(
                    f"{self.name} is durable: call it with orchestration_backend= and "
                    "instance_id=, or await it from another durable function"
                )
            return cast(R, await run.inline(self, args, kwargs))
        runtime = DurableRuntime(orchestration_backend)
        return cast(R, await runtime.run(self, instance_id, args, kwargs))

    def migration(
        self, from_version: str | None, to_version: str | None = None
    ) -> Callable[[Migration], Migration]:
        """Register a migration of saved frames from `from_version` to `to_version`.

        `to_version` defaults to this function's version. Chains are followed step by step
        (1 -> 2 -> 3). The migration receives a `SavedFrame` (stable point name and decoded
        live variables) written by the older code and returns one that fits the new code.
        """
        target = self.version if to_version is None else to_version

        def register(fn: Migration) -> Migration:
            self._migrations[from_version] = (target, fn)
            return fn

        return register

    def migration_chain(
        self, saved_version: str | None
    ) -> list[tuple[str | None, str | None, Migration]] | None:
        """The migrations leading from `saved_version` to this version, or None if none do."""
        chain: list[tuple[str | None, str | None, Migration]] = []
        version = saved_version
        while version != self.version:
            step = self._migrations.get(version)
            if step is None or len(chain) > len(self._migrations):
                return None
            chain.append((version, step[0], step[1]))
            version = step[0]
        return chain

    def options(
        self, *, orchestration_backend: OrchestrationBackend, instance_id: str
    ) -> Callable[P, Coroutine[Any, Any, R]]:
        """The same function with the backend and instance fixed, keeping its typed signature."""

        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            return await self(
                *args,
                orchestration_backend=orchestration_backend,
                instance_id=instance_id,
                **kwargs,
            )

        return call

    async def resume(self, *, orchestration_backend: OrchestrationBackend, instance_id: str) -> R:
        """Continue the instance `instance_id` of this program, or return its saved result:
        the typed resume-only call, with no arguments. Raises `Suspended` when it stops to
        wait again and `InstanceNotFoundError` when the instance never started."""
        runtime = DurableRuntime(orchestration_backend)
        return cast(R, await runtime.run(self, instance_id, start=False))

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The arguments as the function's parameters, keeping only those it ever reads."""
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError:
            # Python's own message: calling the undecorated async function only binds its
            # arguments (its body runs when the coroutine is awaited, which it never is).
            self.__wrapped__(*args, **kwargs).close()
            raise
        bound.apply_defaults()
        return {name: bound.arguments[name] for name in self._compiled.start_live}


def _check_name(name: object) -> None:
    """An explicit saved name: what the store keeps and workers find the program by."""
    if name is None:
        return
    if not isinstance(name, str):
        raise TypeError(f"make_durable(name=...) takes a str, not {type(name).__name__}")
    if not name or not name.isprintable() or name != name.strip() or " " in name:
        raise ValueError(
            f"make_durable(name={name!r}): a program name is a non-empty string without "
            "spaces or control characters, such as 'orders.fulfil' or 'orders:fulfil'"
        )


def make_durable(
    fn: Callable[P, Coroutine[Any, Any, R]],
    *,
    version: str | None = None,
    name: str | None = None,
) -> DurableProgram[P, R]:
    """Make `fn` durable: every pause saves its live state; a later call resumes from there.

    Its instances are saved under `name`, by default ``"module:qualname"`` of `fn`, where a
    script run as ``__main__`` counts as the module ``import`` finds its file as (see the
    README, "Program names"). Raises `UnsupportedSyntaxError` (file and line) for code that
    cannot be made durable.
    """
    return DurableProgram(fn, version=version, name=name)
