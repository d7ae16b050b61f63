"""The AST transformer: an ``async def`` in, a resumable ``async def`` out.

`compile_durable` finds the function's source, runs `DurableAstTransformer` and compiles the
result against the function's own module globals (live, never copied), with the user's file
name and line numbers so that tracebacks point at the user's code.
"""

from __future__ import annotations

import ast
import hashlib
import linecache
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .._iterators import durable_iter, rewind
from ..errors import NoSourceError, UnsupportedSyntaxError
from ._normalise import (
    FACTORY,
    DurableAstTransformer,
    PointInfo,
    TransformResult,
    awaits_where_version_1_ran_inline,
    strip_docstring,
)

__all__ = ["CompiledFunction", "DurableAstTransformer", "PointInfo", "compile_durable"]

TRANSFORM_VERSION = "1"

Impl = Callable[[Any], Coroutine[Any, Any, Any]]


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


def fingerprint(node: ast.AsyncFunctionDef, *, renumbered: bool = False) -> str:
    """A hash of the function's normalised AST: blind to comments, layout, docstring, position.

    Invariant: equal fingerprints number the points alike. A function whose points are
    numbered differently than transform version 1 numbered them (`renumbered`: it awaits a
    call where version 1 made no point, see `awaits_where_version_1_ran_inline`, or in a
    comprehension now lowered into loops) hashes apart from the same source under version 1,
    so its old snapshots resume by point name (a safe upgrade or a clear refusal), never at a
    shifted number. Every other function keeps its fingerprint.
    """
    clean = ast.AsyncFunctionDef(
        name=node.name,
        args=node.args,
        body=strip_docstring(node.body),
        decorator_list=[],
        returns=node.returns,
    )
    text = ast.dump(clean, annotate_fields=False, include_attributes=False)
    version = f"{TRANSFORM_VERSION}+renumbered" if renumbered else TRANSFORM_VERSION
    return hashlib.sha256(f"{version}\n{text}".encode()).hexdigest()[:32]


def _function_node(fn: Callable[..., Any]) -> tuple[ast.AsyncFunctionDef, str]:
    """The ``async def`` node whose code object `fn` runs.

    Matching the code's name and first line means `fn` is the function written there, not a
    wrapper made by a decorator (a wrapper's code is its own ``def``, usually a closure,
    which is refused), so decorators that registered or returned the function are harmless.
    """
    code = getattr(fn, "__code__", None)
    if code is None:
        raise NoSourceError(f"{fn!r} is not a Python function")
    filename = code.co_filename
    lines = linecache.getlines(filename, fn.__globals__)
    if not lines:
        raise NoSourceError(
            f"the source of {fn.__qualname__} is not available (defined in a REPL, by exec, "
            "or from a .pyc only); durable functions must live in a .py file",
            filename=filename,
            lineno=code.co_firstlineno,
        )
    tree = ast.parse("".join(lines), filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef) and node.name == code.co_name:
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            if code.co_firstlineno in (first, node.lineno):
                return node, filename
    raise NoSourceError(
        f"cannot find `async def {code.co_name}` at line {code.co_firstlineno} of {filename}; "
        "was the file edited after it was imported?",
        filename=filename,
        lineno=code.co_firstlineno,
    )
