"""Structured re-entry: one real ``async def`` per durable function, with resume guards.

The generated function keeps the user's control flow and fast locals. Only statements on a
path to a *point* (a pause, or an awaited call that may be a nested durable call) are touched:

* ``_dur_ip`` is the point to resume at; 0 means "running normally". While it is non-zero
  the function is *seeking*: every plain statement run is skipped (``if not _dur_ip:``) and
  every compound statement that contains points is entered only if the target may be inside
  (``if _dur_ip <= hi``). Reaching the target point sets ``_dur_ip = 0``.
* Seeking never evaluates a condition: ``if``/``while`` tests become
  ``(_dur_ip <= hi_body) if _dur_ip else test``, so side effects happen once.
* A ``for`` loop with a point in its body iterates over a saved iterator (``_dur_itN``) that is
  rewound by one on resume so the native loop re-fetches the current item.
* A point inside an ``except`` handler is re-entered by raising the saved exception again from
  the ``try`` body, so the handler's bare ``raise`` still works.
* A ``finally`` body is skipped while a pause unwinds the stack (``_dur_fr.suspending``), and
  broad handlers re-raise the internal pause signal.

Invariant (reachability): while seeking point K, control reaches a statement S only if K lies in
S or after it; so a compound statement needs only ``_dur_ip <= hi(S)`` and a plain one only
``not _dur_ip``.

Rejected designs: a flat dispatcher (regenerator style) loses fast locals and native ``try``;
a single global counter (the original playbooks design) is wrong for loops; copying CPython
frames (dispatch-py) ties snapshots to one interpreter and needs pickle.

This module orchestrates the passes: `_normalise` (pass 1: awaits into points), `_liveness`
(pass 2: what to save at each point, named and numbered in `_points`) and `_emit` (pass 3:
guards and point code), then wraps the result in the factory that `compile_durable` runs.
The names the generated code reserves are in `_syntax`; what it may do with its frame is
`FrameProtocol` (`_protocol`).
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import sys

from ..errors import UnsupportedSyntaxError
from ._closures import CELLS, CLASS_CELL
from ._emit import _Emitter, _prologue
from ._liveness import analyse
from ._normalise import _Normaliser
from ._points import TransformResult, _point_infos
from ._scopes import _local_names, _params, _walk_own
from ._source import strip_docstring
from ._syntax import FACTORY, FR, HELPERS, IMPL, PREFIX, _name

__all__ = ["DurableAstTransformer"]


class DurableAstTransformer(ast.NodeTransformer):
    """Rewrites one ``async def`` into a resumable function (see the module docstring).

    ``DurableAstTransformer(filename).transform(fn_node)`` returns a `TransformResult` whose
    module defines ``_dur_factory(_dur_iter, _dur_rewind)``; calling the factory gives
    ``async def _dur_impl(_dur_fr)`` (renamed to the user's name). As an
    ``ast.NodeTransformer`` it rewrites every top-level ``async def`` it visits into such a
    factory.
    """

    def __init__(
        self, filename: str = "<durable>", *, cells: tuple[str, ...] = (), class_cell: bool = False
    ) -> None:
        self.filename = filename
        self.cells = cells  # variables shared with nested functions: cells made per call
        self.class_cell = class_cell  # a method's `__class__`: a parameter of the factory

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.stmt:
        return self.transform(node).module.body[0]

    def transform(self, fn: ast.AsyncFunctionDef) -> TransformResult:
        self._check(fn)
        params = _params(fn.args)
        local_names = _local_names(fn) | set(params)
        norm = _Normaliser(self.filename, local_names)
        body = norm.block(_drop_globals(strip_docstring(fn.body)))
        order = [id(n) for s in body for n in _walk_own(s) if id(n) in norm.points]
        ids = {key: i for i, key in enumerate(order, start=1)}
        stmts = [norm.points[key][1] for key in order]
        live = analyse(body, params, frozenset(norm.local_names), stmts)
        infos = _point_infos(norm, ids, live, body)
        restore = sorted(set(params).union(*(set(p.live) | set(p.maybe) for p in infos)))
        if self.cells:  # the frame's cells are saved at every point (see `_closures`)
            infos = [dataclasses.replace(p, maybe=(*p.maybe, CELLS)) for p in infos]
            norm.hidden[CELLS] = "the variables its nested functions share"
        emitter = _Emitter(norm, ids, {key: infos[ids[key] - 1] for key in order})
        new_body = emitter.block(body) if order else body
        shared = [ast.Nonlocal([CELLS, *self.cells])] if self.cells else []
        func = ast.AsyncFunctionDef(
            name=IMPL,
            args=ast.arguments([], [ast.arg(FR)], None, [], [], None, []),
            body=[*_globals(fn), *shared, *_prologue(restore), *(new_body or [ast.Pass()])],
            decorator_list=[],
            returns=None,
        )
        _no_type_params(func)
        ast.copy_location(func, fn)
        factory = ast.FunctionDef(
            name=FACTORY,
            args=ast.arguments(
                [], [ast.arg(h) for h in self.factory_params], None, [], [], None, []
            ),
            body=[func, ast.Return(_name(IMPL))],
            decorator_list=[],
            returns=None,
        )
        _no_type_params(factory)
        ast.copy_location(factory, fn)
        module = ast.Module([factory], [])
        _locate(module, fn)
        lowered = bool(norm.comprehension_loops)
        return TransformResult(module, params, live.entry, infos, norm.hidden, lowered)

    @property
    def factory_params(self) -> tuple[str, ...]:
        """The factory's parameters: the helpers, then the cells the function closes over."""
        extra = (CLASS_CELL,) if self.class_cell else ()
        return (*HELPERS, *extra, *((CELLS, *self.cells) if self.cells else ()))

    def _check(self, fn: ast.AsyncFunctionDef) -> None:
        for node in _walk_own(fn):
            if isinstance(node, (ast.Yield, ast.YieldFrom)):
                raise UnsupportedSyntaxError(
                    "async generators cannot be made durable",
                    filename=self.filename,
                    lineno=node.lineno,
                )
            if isinstance(node, ast.Name) and node.id.startswith(PREFIX):
                raise UnsupportedSyntaxError(
                    f"the name {node.id!r} uses the prefix {PREFIX!r}, reserved for durable; "
                    "rename it",
                    filename=self.filename,
                    lineno=node.lineno,
                )
            if isinstance(node, ast.Nonlocal):
                raise UnsupportedSyntaxError(
                    "a durable function cannot use `nonlocal`; define it at module level",
                    filename=self.filename,
                    lineno=node.lineno,
                )


def _no_type_params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
    if sys.version_info >= (3, 12):
        node.type_params = []


def _globals(fn: ast.AsyncFunctionDef) -> list[ast.stmt]:
    """One ``global`` declaration first: guards may move the user's below a use."""
    names = sorted({n for g in _walk_own(fn) if isinstance(g, ast.Global) for n in g.names})
    return [ast.Global(names)] if names else []


def _drop_globals(body: list[ast.stmt]) -> list[ast.stmt]:
    """Remove ``global`` statements of our own scope; `_globals` declares them first."""

    class Dropper(ast.NodeTransformer):
        def visit_Global(self, node: ast.Global) -> ast.stmt:
            return ast.copy_location(ast.Pass(), node)

        def _skip(self, node: ast.AST) -> ast.AST:
            return node

        visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _skip

    dropper = Dropper()
    return [dropper.visit(copy.deepcopy(s)) for s in body]


def _locate(module: ast.Module, fn: ast.AsyncFunctionDef) -> None:
    """Give every generated node the position of the user statement it came from."""

    def fill(node: ast.AST, line: int, end: int, col: int) -> None:
        if "lineno" in node._attributes:
            if getattr(node, "lineno", None) is None:
                node.lineno, node.end_lineno = line, end  # type: ignore[attr-defined]
                node.col_offset, node.end_col_offset = col, col  # type: ignore[attr-defined]
            line = node.lineno  # type: ignore[attr-defined]
            end = getattr(node, "end_lineno", None) or line
            col = getattr(node, "col_offset", 0) or 0
        for child in ast.iter_child_nodes(node):
            fill(child, line, end, col)

    fill(module, fn.lineno, fn.end_lineno or fn.lineno, fn.col_offset)
