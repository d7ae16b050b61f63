"""What belongs to the function's own scope, and which names its code binds.

A nested ``def``, ``lambda``, class or comprehension is a scope of its own: only the parts
of it evaluated in ours (`_outer_parts`) are ours, unless it is a comprehension that the
normaliser lowers into our code (`_lowerable`). The helpers here tell which nodes are ours
(`_own_nodes`), which await a call, which names some code may bind, and which names are
the function's locals and parameters.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Iterable, Iterator, Sequence

from ._liveness import names_in

__all__ = [
    "_COMPREHENSIONS",
    "_SCOPES",
    "_bound_names",
    "_comprehension_parts",
    "_comprehension_vars",
    "_defaults",
    "_has_call_await",
    "_is_lookup",
    "_local_names",
    "_lookup_root",
    "_lowerable",
    "_outer_parts",
    "_own_nodes",
    "_params",
    "_walk_own",
    "_with_defaults",
]

_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp)


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes of `node` in its own scope: of a nested function, lambda, class or comprehension,
    only the parts evaluated in our scope (`_outer_parts`); all of a comprehension that is
    lowered into our scope's code (`_lowerable`)."""
    for child in ast.iter_child_nodes(node):
        if _lowerable(child):
            yield child
            yield from _own_nodes(child)
            continue
        if isinstance(child, _SCOPES):
            for part in _outer_parts(child):
                yield from _walk_own(part)
            continue
        yield child
        yield from _own_nodes(child)


def _walk_own(node: ast.AST) -> Iterator[ast.AST]:
    yield node
    yield from _own_nodes(node)


def _outer_parts(node: ast.AST) -> list[ast.expr]:
    """What a nested scope's definition evaluates in the enclosing scope, in Python's order.

    A ``def``: decorators, then defaults, then keyword-only defaults (its annotations come
    after them and are left in place). A class: decorators, bases, keywords. A lambda: its
    defaults. A comprehension: its first iterable.
    """
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return [*node.decorator_list, *_defaults(node.args)]
    if isinstance(node, ast.ClassDef):
        return [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
    if isinstance(node, ast.Lambda):
        return _defaults(node.args)
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        return [node.generators[0].iter]
    return []


def _defaults(args: ast.arguments) -> list[ast.expr]:
    return [*args.defaults, *(d for d in args.kw_defaults if d is not None)]


def _with_defaults(args: ast.arguments, values: Sequence[ast.expr]) -> ast.arguments:
    """`args` with its defaults (as `_defaults` lists them) replaced by `values`."""
    new = copy.copy(args)
    rest = iter(values)
    new.defaults = [next(rest) for _ in args.defaults]
    new.kw_defaults = [None if d is None else next(rest) for d in args.kw_defaults]
    return new


def _has_call_await(node: ast.AST) -> bool:
    """Whether `node` awaits a call in our scope (of a nested scope, in its `_outer_parts`,
    unless it is a comprehension lowered into our scope)."""
    if isinstance(node, _SCOPES) and not _lowerable(node):
        return any(map(_has_call_await, _outer_parts(node)))
    return any(isinstance(n, ast.Await) and isinstance(n.value, ast.Call) for n in _walk_own(node))


def _lowerable(node: ast.AST) -> bool:
    """A list, set or dict comprehension the normaliser lowers into a loop (`comprehension`):
    one awaiting a call in its own scope (beyond its first iterable), whose variables can be
    renamed without changing its meaning.

    Left native (its awaits run inline): a generator expression (with an ``await`` it is an
    async generator, consumed later, where no pause can be saved); an ``async for`` clause;
    a lambda or generator expression inside that mentions a variable of the comprehension (a
    closure that may outlive the iteration would see the renamed variable change); a nested
    comprehension rebinding one of its variables (renaming is not scope-aware).
    """
    if not isinstance(node, _COMPREHENSIONS) or any(g.is_async for g in node.generators):
        return False
    parts = _comprehension_parts(node)
    if not any(map(_has_call_await, parts)):
        return False
    names = _comprehension_vars(node)
    for part in parts:
        for n in ast.walk(part):
            if isinstance(n, (ast.Lambda, ast.GeneratorExp)) and _mentions(n, names):
                return False
            if isinstance(n, _COMPREHENSIONS) and _comprehension_vars(n) & names:
                return False
    return True


def _comprehension_parts(node: ast.ListComp | ast.SetComp | ast.DictComp) -> list[ast.expr]:
    """What a comprehension evaluates in its own scope: all but its first iterable."""
    first, *rest = node.generators
    parts = [first.target, *first.ifs]
    for g in rest:
        parts += [g.target, g.iter, *g.ifs]
    if isinstance(node, ast.DictComp):
        return [*parts, node.key, node.value]
    return [*parts, node.elt]


def _comprehension_vars(node: ast.ListComp | ast.SetComp | ast.DictComp) -> set[str]:
    """The names its ``for`` clauses bind (not the objects of ``o.a`` or ``d[k]`` targets)."""
    return {
        n.id
        for g in node.generators
        for n in ast.walk(g.target)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def _mentions(node: ast.AST, names: set[str]) -> bool:
    return any(
        (isinstance(n, ast.Name) and n.id in names) or (isinstance(n, ast.arg) and n.arg in names)
        for n in ast.walk(node)
    )


def _bound_names(nodes: Iterable[ast.AST | None]) -> frozenset[str]:
    """Every name `nodes` may bind (stores, walruses, pattern captures), nested scopes too:
    over-approximating only makes `hoist` keep more values in temps."""
    out: set[str] = set()
    for node in nodes:
        for n in ast.walk(node) if node is not None else ():
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                out.add(n.id)
            elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
                out.add(n.name)
            elif isinstance(n, ast.MatchMapping) and n.rest:
                out.add(n.rest)
    return frozenset(out)


def _is_lookup(e: ast.expr) -> bool:
    """A name or a chain of attribute lookups on a name."""
    while isinstance(e, ast.Attribute):
        e = e.value
    return isinstance(e, ast.Name)


def _lookup_root(e: ast.expr) -> str:
    while isinstance(e, ast.Attribute):
        e = e.value
    return e.id if isinstance(e, ast.Name) else ""


def _params(args: ast.arguments) -> tuple[str, ...]:
    names = [a.arg for a in (*args.posonlyargs, *args.args)]
    if args.vararg:
        names.append(args.vararg.arg)
    names += [a.arg for a in args.kwonlyargs]
    if args.kwarg:
        names.append(args.kwarg.arg)
    return tuple(names)


def _local_names(fn: ast.AsyncFunctionDef) -> set[str]:
    stores: set[str] = set()
    declared: set[str] = set()
    for s in fn.body:
        _, st, dl = names_in(s)
        stores |= st | dl
    for node in _walk_own(fn):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
    return stores - declared
