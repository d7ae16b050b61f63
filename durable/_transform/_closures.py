"""Closures in and around a durable function: ``super()``, shared cells, nested function sites.

Three things a plain ``async def`` gets from the compiler that the rewritten function must
get some other way:

* **The ``__class__`` cell of a method.** A method that calls ``super()`` (or names
  ``__class__``) closes over the cell the class statement fills. The generated factory takes a
  ``__class__`` parameter, so the generated function closes over a cell of that name, and
  `compile_durable` gives it the original function's own cell (filled once the class exists).
  Zero-argument ``super()`` reads the *first argument* of the running function, which in
  generated code is the frame; so `rewrite_super` spells it out as
  ``super(__class__, <first parameter>)``, which is what Python computes.
* **Cells shared with nested functions.** A variable of the durable function that a nested
  ``lambda`` or ``def`` uses (`captured`) lives in a cell. The generated function declares
  those variables ``nonlocal`` (the factory takes them as parameters), and `per_run` builds
  the function for each call with fresh cells, or on resume with the cells the codec rebuilt
  for the saved nested functions (a `FrameCells`, saved at each point as ``_dur_cells``).
  So the frame and its nested functions share each cell as in plain Python, across pauses.
* **Sites of nested functions.** A nested function is saved by reference to its definition:
  the durable function and the index of its ``lambda`` / ``def`` node among `function_sites`
  (a walk of the fingerprinted body). `site_codes` finds the code object the compiled
  function holds for each site, matching a code's name, first line and first source position
  with the node's. Loading a saved function takes its code from there, never from the store.
"""

from __future__ import annotations

import ast
import copy
import types
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any

from .._cells import FrameCells
from ..errors import SnapshotValidationError
from ._protocol import FrameProtocol
from ._scopes import _walk_own

__all__ = [
    "CELLS",
    "CLASS_CELL",
    "captured",
    "function_sites",
    "per_run",
    "requalify",
    "rewrite_super",
    "site_codes",
]

CELLS = "_dur_cells"
CLASS_CELL = "__class__"
_FUNCTIONS = (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef)


def rewrite_super(fn: ast.AsyncFunctionDef, local_names: set[str]) -> ast.AsyncFunctionDef:
    """A copy of `fn` whose own zero-argument ``super()`` calls name their class and object."""
    positional = [*fn.args.posonlyargs, *fn.args.args]
    if not positional or "super" in local_names:
        return fn  # Python raises "super(): no arguments" (or calls the local `super`)
    new = copy.deepcopy(fn)
    for node in _walk_own(new):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "super"
            and not node.args
            and not node.keywords
        ):
            first = ast.copy_location(ast.Name(positional[0].arg, ast.Load()), node)
            node.args = [ast.copy_location(ast.Name(CLASS_CELL, ast.Load()), node), first]
    return new


def captured(fn: ast.AsyncFunctionDef, cellvars: Sequence[str]) -> tuple[str, ...]:
    """The variables of `fn` (its `cellvars`, as compiled) that a nested function may use.

    Names a comprehension alone captures are left out: a comprehension cannot outlive a pause.
    Over-approximating (a name the nested function binds itself) only manages one more cell.
    """
    used = {n.id for site in function_sites(fn) for n in ast.walk(site) if isinstance(n, ast.Name)}
    return tuple(sorted(set(cellvars) & used))


def function_sites(
    fn: ast.AsyncFunctionDef,
) -> list[ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every ``lambda`` and ``def`` in `fn`'s body, at any depth, in `ast.walk` order: the
    index of a site is what a saved nested function refers to."""
    return [n for s in fn.body for n in ast.walk(s) if isinstance(n, _FUNCTIONS)]


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield c
            yield from _codes(c)


def requalify(code: types.CodeType, old: str, new: str) -> types.CodeType:
    """`code` and the codes nested in it, with the qualified-name prefix `old` made `new`."""
    consts = tuple(
        requalify(c, old, new) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    qualname = code.co_qualname
    if qualname == old or qualname.startswith(f"{old}."):
        qualname = new + qualname[len(old) :]
    return code.replace(co_consts=consts, co_qualname=qualname)


def site_codes(
    code: types.CodeType, sites: Sequence[ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef]
) -> tuple[types.CodeType | None, ...]:
    """The code object compiled for each site (None where the compiler dropped the site)."""
    found: list[types.CodeType | None] = [None] * len(sites)
    for c in _codes(code):
        i = _site_of(c, sites)
        if i is not None and found[i] is None:
            found[i] = c
    return tuple(found)


def _site_of(
    code: types.CodeType, sites: Sequence[ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef]
) -> int | None:
    """The site whose body holds `code`'s first source position: the innermost one of the
    code's name and first line (a nested function's code only has positions of its body)."""
    candidates = [
        (i, s)
        for i, s in enumerate(sites)
        if _name(s) == code.co_name and _first_line(s) == code.co_firstlineno
    ]
    positions = [
        (line, col)
        for line, _, col, end_col in code.co_positions()
        if line is not None and col is not None and not (col == 0 and end_col == 0)
    ]
    if not positions:
        return candidates[0][0] if len(candidates) == 1 else None
    first = min(positions)
    best: tuple[tuple[int, int], int] | None = None
    for i, s in candidates:
        start, end = _body_span(s)
        if start <= first <= end and (best is None or start > best[0]):
            best = (start, i)
    return best[1] if best else None


def _name(site: ast.AST) -> str:
    return "<lambda>" if isinstance(site, ast.Lambda) else getattr(site, "name", "")


def _first_line(site: ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    if isinstance(site, ast.Lambda) or not site.decorator_list:
        return site.lineno
    return site.decorator_list[0].lineno


def _body_span(
    site: ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef,
) -> tuple[tuple[int, int], tuple[int, int]]:
    first: ast.expr | ast.stmt
    last: ast.expr | ast.stmt
    if isinstance(site, ast.Lambda):
        first = last = site.body
    else:
        first, last = site.body[0], site.body[-1]
    end_line = last.end_lineno if last.end_lineno is not None else last.lineno
    end_col = last.end_col_offset if last.end_col_offset is not None else 1 << 30
    return (first.lineno, first.col_offset), (end_line, end_col)


Impl = Callable[[FrameProtocol], Coroutine[Any, Any, Any]]


def per_run(
    code: types.CodeType,
    globals_: dict[str, Any],
    name: str,
    managed: tuple[str, ...],
    fixed: dict[str, types.CellType],
) -> Impl:
    """The generated function, built for each call over the frame's own cells.

    The free variables of `code` are the factory's helpers and ``__class__`` (cells in
    `fixed`), the `managed` variables and ``_dur_cells``. A fresh call gets fresh cells; a
    resumed one the cells saved in its ``_dur_cells`` (rebuilt by the codec, shared with the
    saved nested functions), and fresh ones for the variables no saved function shared.
    """
    freevars = code.co_freevars

    def impl(frame: FrameProtocol) -> Coroutine[Any, Any, Any]:
        saved = frame.locals.get(CELLS) if frame.ip else None
        if saved is not None and type(saved) is not FrameCells:
            raise SnapshotValidationError(
                f"the saved closure cells of {code.co_qualname} are not cells"
            )
        old = saved.cells if saved is not None else {}
        cells = {n: old.get(n) or types.CellType() for n in managed}
        own = types.CellType(FrameCells(cells))
        closure = tuple(
            own if n == CELLS else cells[n] if n in cells else fixed[n] for n in freevars
        )
        result: Coroutine[Any, Any, Any] = types.FunctionType(code, globals_, name, None, closure)(
            frame
        )
        return result

    return impl
