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
* `_closures`: ``super()`` in methods, cells shared with nested functions, nested function
  sites (what a saved ``lambda`` or nested ``def`` refers to).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .._iterators import durable_iter, rewind
from ..errors import UnsupportedSyntaxError
from ._closures import (
    CLASS_CELL,
    captured,
    function_sites,
    per_run,
    requalify,
    rewrite_super,
    site_codes,
)
from ._points import PointInfo, TransformResult
from ._protocol import FrameProtocol
from ._rewrite import DurableAstTransformer
from ._scopes import _local_names
from ._source import TRANSFORM_VERSION as TRANSFORM_VERSION
from ._source import _function_node, awaits_where_version_1_ran_inline, fingerprint
from ._source import strip_docstring as strip_docstring
from ._syntax import FACTORY, HELPERS

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
    # The code of each nested `lambda` / `def` by its site index (`_closures.function_sites`):
    # what a saved nested function is rebuilt with.
    functions: tuple[types.CodeType | None, ...] = ()


def compile_durable(fn: Callable[..., Any]) -> CompiledFunction:
    node, filename = _function_node(fn)
    code = fn.__code__
    if set(code.co_freevars) - {CLASS_CELL}:
        names = ", ".join(n for n in code.co_freevars if n != CLASS_CELL)
        raise UnsupportedSyntaxError(
            f"{fn.__qualname__} is a closure (it uses {names} from an enclosing function); "
            "define durable functions at module level",
            filename=filename,
            lineno=node.lineno,
        )
    class_cell = CLASS_CELL in code.co_freevars  # a method using super() or __class__
    renumbered = awaits_where_version_1_ran_inline(node)  # read before the transform runs
    cells = captured(node, code.co_cellvars)
    source = rewrite_super(node, _local_names(node)) if class_cell else node
    transformer = DurableAstTransformer(filename, cells=cells, class_cell=class_cell)
    result: TransformResult = transformer.transform(source)
    namespace: dict[str, Any] = {}
    exec(compile(result.module, filename, "exec"), fn.__globals__, namespace)  # globals stay live
    params = transformer.factory_params
    template = namespace[FACTORY](durable_iter, rewind, *[None] * (len(params) - len(HELPERS)))
    impl_code = requalify(template.__code__, template.__code__.co_qualname, fn.__qualname__)
    impl_code = impl_code.replace(co_name=fn.__name__)
    fixed = dict(zip(template.__code__.co_freevars, template.__closure__ or (), strict=True))
    if class_cell:
        assert fn.__closure__ is not None
        fixed[CLASS_CELL] = fn.__closure__[code.co_freevars.index(CLASS_CELL)]
    if cells:
        impl: Impl = per_run(impl_code, fn.__globals__, fn.__name__, cells, fixed)
    else:
        closure = tuple(fixed[n] for n in impl_code.co_freevars)
        impl = types.FunctionType(impl_code, fn.__globals__, fn.__name__, None, closure)
    fingerprint_ = fingerprint(node, renumbered=result.lowered_comprehensions or renumbered)
    return CompiledFunction(
        impl=impl,
        params=result.params,
        start_live=result.start_live,
        points=tuple(result.points),
        hidden=result.hidden,
        fingerprint=fingerprint_,
        filename=filename,
        lineno=node.lineno,
        functions=site_codes(impl_code, function_sites(node)),
    )
