"""What generated code may read and call on its frame: the transform's contract with a runtime.

The generated function is ``async def _dur_impl(_dur_fr)``: it receives one frame object
and uses exactly the members of `FrameProtocol`, nothing else. The runtime's frame (any
object with these members) satisfies it structurally; `CompiledFunction.impl` takes one.

How generated code uses them: its prologue reads `ip` and `locals` once; each point passes
its number (1, 2, ... in source order), then a fresh dict of the locals live there (names
to values), which the frame may keep: the generated code never touches it again. While a
pause unwinds the stack, the ``try`` statements that hold points consult `suspending`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

__all__ = ["FrameProtocol"]


class FrameProtocol(Protocol):
    """The frame a generated function receives (``_dur_fr``): every member it uses.

    The generated code calls the methods with positional arguments only (the user's own
    arguments of a call point aside), so an implementation may name its parameters freely.
    """

    @property
    def ip(self) -> int:
        """The point to resume at, read once by the prologue.

        0 runs the function from the top. K > 0 resumes at point K: the code *seeks* it,
        skipping every statement before it and evaluating no condition, until point K is
        reached (a pause then goes on after it; a call point calls `resume`).
        """

    @property
    def locals(self) -> Mapping[str, Any]:
        """The saved locals to restore (name -> value), read once by the prologue.

        The code only tests ``name in locals`` and reads ``locals[name]``: in the prologue
        for every parameter and every name saved at some point, and again (while seeking)
        for the target of a ``for`` loop resumed inside its body. A name absent stays unbound.
        """

    @property
    def suspending(self) -> bool:
        """Whether a pause is unwinding the stack (the internal pause signal is propagating).

        Read only in a ``try`` statement that holds points: by its ``finally`` block
        (skipped while true), by each of its handlers that could catch the signal, a
        ``BaseException`` (re-raised while true), and before each of its handler types that
        is not a global name (``()`` is used instead while true).
        """

    async def pause(self, point: int, event: str, live: dict[str, Any], /) -> None:
        """Pause point `point`: ``raise PauseForEventException(event)`` in the user's code.

        `event` is the value of the user's event expression (documented to be a ``str``);
        `live` the locals to save. Returns when the function may go on (the event had
        already been published); otherwise saves the pause and raises the internal pause
        signal, after which `suspending` must be true while it unwinds.
        """

    def call(
        self,
        point: int,
        live: dict[str, Any],
        func: Callable[..., Awaitable[Any]],
        /,
        *args: Any,
        **kwargs: Any,
    ) -> Awaitable[Any]:
        """Call point `point`: ``await func(*args, **kwargs)`` in the user's code.

        The generated code awaits what it returns at once (``await _dur_fr.call(...)``): an
        implementation may be a coroutine function, or (to keep no frame of its own on the
        stack under a nested call) return the awaitable that does the work; it may also
        raise at once.

        `func`, `args` and `kwargs` are the user's callee and arguments, already evaluated;
        `live` the locals to save should the call pause. Returns the call's result or raises
        its exception. A durable callee may run as a nested frame and pause: the frame then
        raises the internal pause signal, as `pause` does.
        """

    def resume(self, point: int, live: dict[str, Any], /) -> Awaitable[Any]:
        """Re-enter the call at point `point` while seeking (instead of calling it again);
        awaited at once, as `call` is.

        `live` is the locals to save, as for `call`. Returns or raises what the nested call
        does when resumed from its own saved state (or what it had already returned/raised).
        """
