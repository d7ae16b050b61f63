"""The function's source, and the fingerprint that identifies it in snapshots.

`_function_node` finds the ``async def`` a function object runs in its file; `fingerprint`
hashes its normalised AST, so that a snapshot resumes only the code it was taken from (or,
by point names, a compatible edit of it).
"""

from __future__ import annotations

import ast
import hashlib
import linecache
from collections.abc import Callable
from typing import Any

from ..errors import NoSourceError
from ._scopes import _has_call_await, _outer_parts, _own_nodes

__all__ = [
    "TRANSFORM_VERSION",
    "_function_node",
    "awaits_where_version_1_ran_inline",
    "fingerprint",
    "strip_docstring",
]

TRANSFORM_VERSION = "1"


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


def strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return body[1:] or [ast.copy_location(ast.Pass(), first)]
    return body


def awaits_where_version_1_ran_inline(fn: ast.AsyncFunctionDef) -> bool:
    """Whether `fn` awaits a call where transform version 1 made no point (it ran the call
    inline or refused it): a `match` guard, an `except` type, a `with` item, an `async for`
    iterable, the decorators, defaults or bases of a nested ``def``, ``lambda`` or class, an
    assignment or ``del`` target, an ``assert`` message. Points after such a place are
    numbered differently since, so `fingerprint` tells the two numberings apart.
    """
    for n in _own_nodes(fn):
        if isinstance(n, ast.match_case):
            parts: list[ast.AST] = [n.guard] if n.guard is not None else []
        elif isinstance(n, ast.ExceptHandler):
            parts = [n.type] if n.type is not None else []
        elif isinstance(n, ast.With | ast.AsyncWith):
            parts = [item.context_expr for item in n.items]
        elif isinstance(n, ast.AsyncFor):
            parts = [n.iter]
        elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            parts = list(_outer_parts(n))
        elif isinstance(n, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete | ast.For):
            targets = n.targets if isinstance(n, ast.Assign | ast.Delete) else [n.target]
            parts = list(targets)
        elif isinstance(n, ast.Assert):
            parts = [n.msg] if n.msg is not None else []
        else:
            continue
        if any(_has_call_await(part) for part in parts):
            return True
    return False
