"""The AST transformer: an ``async def`` in, a resumable ``async def`` out.

`compile_durable` finds the function's source, runs `DurableAstTransformer` and compiles the
result against the function's own module globals (live, never copied), with the user's file
name and line numbers so that tracebacks point at the user's code.

The rooms, in the order a function passes through them:

* `_source`: finding the function's ``async def`` in its file; its `fingerprint`.
* `_rewrite`: `DurableAstTransformer`, which runs the passes below; the design of the
  generated code.
* `_normalise`: pass 1, the rewriter's core: awaits into points, loops and the like lowered.
* `_liveness`: pass 2, which locals to save at each point.
* `_points`: what each point is (`PointInfo`): number, stable name, locals to save.
* `_emit`: pass 3, the guards and point code of the resumable function.
* `_scopes`: which nodes and names belong to the function's own scope.
* `_syntax`: the names generated code reserves (``_dur_*``) and node builders.
* `_protocol`: `FrameProtocol`, what generated code may do with its frame.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .._iterators import durable_iter, rewind
from ..errors import UnsupportedSyntaxError
from ._points import PointInfo, TransformResult
from ._protocol import FrameProtocol
from ._rewrite import DurableAstTransformer
from ._source import TRANSFORM_VERSION as TRANSFORM_VERSION
from ._source import _function_node, awaits_where_version_1_ran_inline, fingerprint
from ._source import strip_docstring as strip_docstring
from ._syntax import FACTORY

__all__ = [
    "CompiledFunction",
    "DurableAstTransformer",
    "FrameProtocol",
    "PointInfo",
    "compile_durable",
]

Impl = Callable[[FrameProtocol], Coroutine[Any, Any, Any]]


@dataclass(frozen=True)
class CompiledFunction:
    impl: Impl  # async def impl(frame) -> result
    params: tuple[str, ...]
    start_live: tuple[str, ...]
    points: tuple[PointInfo, ...]
    hidden: dict[str, str]
    fingerprint: str
    filename: str
    lineno: int


def compile_durable(fn: Callable[..., Any]) -> CompiledFunction:
    node, filename = _function_node(fn)
    if fn.__code__.co_freevars:
        raise UnsupportedSyntaxError(
            f"{fn.__qualname__} is a closure (it uses {', '.join(fn.__code__.co_freevars)} "
            "from an enclosing function); define durable functions at module level",
            filename=filename,
            lineno=node.lineno,
        )
    renumbered = awaits_where_version_1_ran_inline(node)  # read before the transform runs
    result: TransformResult = DurableAstTransformer(filename).transform(node)
    code = compile(result.module, filename, "exec")
    namespace: dict[str, Any] = {}
    exec(code, fn.__globals__, namespace)  # defines the factory only; globals stay live
    impl = namespace[FACTORY](durable_iter, rewind)
    impl.__code__ = impl.__code__.replace(co_name=fn.__name__, co_qualname=fn.__qualname__)
    impl.__name__, impl.__qualname__, impl.__module__ = fn.__name__, fn.__qualname__, fn.__module__
    return CompiledFunction(
        impl=impl,
        params=result.params,
        start_live=result.start_live,
        points=tuple(result.points),
        hidden=result.hidden,
        fingerprint=fingerprint(node, renumbered=result.lowered_comprehensions or renumbered),
        filename=filename,
        lineno=node.lineno,
    )
