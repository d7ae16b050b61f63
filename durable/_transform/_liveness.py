"""Which local variables must be saved at each checkpoint.

A statement-level control-flow graph of one (already normalised) function body, a backward
liveness analysis and two forward definedness analyses (may / must) over it. A variable is
saved at a point when it is live after the point *and* may be bound there; one that is only
maybe bound is saved if bound, so an unbound variable stays unbound after resume and
``UnboundLocalError`` keeps its meaning.

Invariant: the analysis may over-approximate liveness (a dead variable saved) but never
under-approximate it. Exceptions are modelled conservatively: every node inside a ``try`` may
jump to every handler, and a ``finally`` block may continue to any place control could have
been going.

Rejected design: saving every bound local (``locals()``) at a checkpoint. It is simpler, but
snapshots then grow with dead values (a 50 MB buffer no longer used) and fail on dead values
that cannot be saved (a closed file).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["Liveness", "analyse", "names_in"]

_SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(eq=False)
class _Node:
    uses: frozenset[str] = frozenset()
    defs: frozenset[str] = frozenset()  # bound whenever the node completes
    kills: frozenset[str] = frozenset()
    maydefs: frozenset[str] = frozenset()  # bound only sometimes: never kills liveness
    succ: list[_Node] = field(default_factory=list)
    exc: list[_Node] = field(default_factory=list)  # where an exception inside may go


@dataclass
class Liveness:
    """Per point (the id of its statement node): names to save, split by definedness."""

    must: dict[int, tuple[str, ...]]  # live and bound on every path
    maybe: dict[int, tuple[str, ...]]  # live and bound on some paths only
    entry: tuple[str, ...]  # parameters live at the start: what a start saves


@dataclass
class _Names:
    loads: set[str] = field(default_factory=set)
    stores: set[str] = field(default_factory=set)  # bound whenever the code completes
    dels: set[str] = field(default_factory=set)
    maybe: set[str] = field(default_factory=set)  # bound only on some paths through it


def names_in(node: ast.AST) -> tuple[set[str], set[str], set[str]]:
    """Loaded, stored (surely or maybe) and deleted names of `node`; nested scopes load."""
    names = _Names()
    _collect(node, names)
    return names.loads, names.stores | names.maybe, names.dels


def _collect(node: ast.AST, names: _Names) -> None:
    loads, stores, dels = names.loads, names.stores, names.dels
    if isinstance(node, ast.Name):
        {ast.Load: loads, ast.Store: stores, ast.Del: dels}[type(node.ctx)].add(node.id)
        if isinstance(node.ctx, ast.Del):
            loads.add(node.id)
        return
    if isinstance(node, (*_SCOPES, *_DEFS)):
        _collect_scope(node, names)
        return
    if isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
        # A walrus may sit in a short-circuited operand or an unused branch.
        names.maybe.add(node.target.id)
        _collect(node.value, names)
        return
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        loads.add(node.target.id)
    if isinstance(node, ast.ExceptHandler) and node.name:
        stores.add(node.name)
    # A capture binds only if its case matches.
    if isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
        names.maybe.add(node.name)
    if isinstance(node, ast.MatchMapping) and node.rest:
        names.maybe.add(node.rest)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        for alias in node.names:
            stores.add((alias.asname or alias.name).split(".")[0])
    for child in ast.iter_child_nodes(node):
        _collect(child, names)


def _collect_scope(node: ast.AST, names: _Names) -> None:
    # Everything a nested scope mentions may be a free variable read from us (closures,
    # comprehensions); a def/class binds its own name in our scope.
    if isinstance(node, _DEFS):
        names.stores.add(node.name)
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            names.loads.add(sub.id)
        elif isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
            names.maybe.add(sub.target.id)  # a comprehension's walrus binds in our scope


def _header(node: ast.stmt) -> list[ast.AST]:
    """The parts of a compound statement evaluated by the statement itself."""
    if isinstance(node, (ast.If, ast.While)):
        return [node.test]
    if isinstance(node, (ast.For, ast.AsyncFor)):
        return [node.iter]
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return list(node.items)
    if isinstance(node, ast.Match):
        return [node.subject]
    return []


def _simple(parts: Iterable[ast.AST]) -> _Node:
    names = _Names()
    for part in parts:
        _collect(part, names)
    maybe = names.maybe - names.stores
    return _Node(
        frozenset(names.loads), frozenset(names.stores), frozenset(names.dels), frozenset(maybe)
    )


class _Builder:
    """Builds the graph backwards: each statement is built knowing its successor."""

    def __init__(self) -> None:
        self.nodes: list[_Node] = []
        self.exit = self._add(_Node())
        self.by_stmt: dict[int, _Node] = {}
        self.loops: list[tuple[_Node, _Node]] = []  # (break target, continue target)
        self.handlers: list[_Node] = []

    def _add(self, node: _Node) -> _Node:
        self.nodes.append(node)
        return node

    def node(self, parts: Iterable[ast.AST], succ: Sequence[_Node]) -> _Node:
        n = self._add(_simple(parts))
        n.succ.extend(succ)
        n.exc.extend(self.handlers)
        return n

    def block(self, stmts: Sequence[ast.stmt], nxt: _Node) -> _Node:
        for stmt in reversed(stmts):
            nxt = self.stmt(stmt, nxt)
        return nxt

    def stmt(self, s: ast.stmt, nxt: _Node) -> _Node:
        n = self._stmt(s, nxt)
        self.by_stmt[id(s)] = n
        return n

    def _stmt(self, s: ast.stmt, nxt: _Node) -> _Node:
        if isinstance(s, ast.If):
            return self.node([s.test], [self.block(s.body, nxt), self.block(s.orelse, nxt)])
        if isinstance(s, (ast.While, ast.For, ast.AsyncFor)):
            return self._loop(s, nxt)
        if isinstance(s, (ast.With, ast.AsyncWith)):
            head = self.node(_header(s), [])
            head.succ.append(self.block(s.body, nxt))
            return head
        if isinstance(s, (ast.Try, ast.TryStar)):
            return self._try(s, nxt)
        if isinstance(s, ast.Match):
            return self._match(s, nxt)
        if isinstance(s, ast.Return):
            return self.node([s] if s.value else [], [self.exit])
        if isinstance(s, ast.Raise):
            return self.node([s], self.handlers or [self.exit])
        if isinstance(s, ast.Break):
            return self.node([], [self.loops[-1][0]] if self.loops else [nxt])
        if isinstance(s, ast.Continue):
            return self.node([], [self.loops[-1][1]] if self.loops else [nxt])
        if isinstance(s, (ast.Global, ast.Nonlocal)):
            return self.node([], [nxt])
        return self.node([s], [nxt])

    def _loop(self, s: ast.While | ast.For | ast.AsyncFor, nxt: _Node) -> _Node:
        after_else = self.block(s.orelse, nxt)
        if isinstance(s, ast.While):
            head = self.node([s.test], [after_else])
            entry = head
            self.loops.append((nxt, head))
            head.succ.append(self.block(s.body, head))
            self.loops.pop()
            return entry
        # The head keeps using the iterator, so whatever the loop iterates over stays live
        # through the body; the target is bound only on the way into the body (a loop that
        # runs zero times leaves it as it was).
        head = self.node([s.iter], [after_else])
        entry = self.node([s.iter], [head])
        self.loops.append((nxt, head))
        bind = self.node([s.target], [self.block(s.body, head)])
        self.loops.pop()
        head.succ.append(bind)
        return entry

    def _try(self, s: ast.Try | ast.TryStar, nxt: _Node) -> _Node:
        after = nxt
        if s.finalbody:
            # The finally block may continue wherever control was going.
            join = self._add(_Node())
            join.succ.extend([nxt, self.exit, *self.handlers])
            for brk, cont in self.loops:
                join.succ.extend([brk, cont])
            after = self.block(s.finalbody, join)
            self.handlers.append(after)
        handler_entries = []
        for h in s.handlers:
            entry = self.node([h.type] if h.type else [], [self.block(h.body, after)])
            if h.name:
                entry.defs = entry.defs | {h.name}
            self.by_stmt[id(h)] = entry
            handler_entries.append(entry)
        else_entry = self.block(s.orelse, after)
        self.handlers.extend(handler_entries)
        body = self.block(s.body, else_entry)
        del self.handlers[len(self.handlers) - len(handler_entries) :]
        if s.finalbody:
            self.handlers.pop()
        return body

    def _match(self, s: ast.Match, nxt: _Node) -> _Node:
        fallthrough = nxt
        for case in reversed(s.cases):
            parts: list[ast.AST] = [case.pattern]
            if case.guard:
                parts.append(case.guard)
            fallthrough = self.node(parts, [self.block(case.body, nxt), fallthrough])
        return self.node([s.subject], [fallthrough])


def analyse(
    body: Sequence[ast.stmt],
    params: Iterable[str],
    local_names: frozenset[str],
    points: Iterable[ast.stmt],
) -> Liveness:
    """Compute the variables to save at each statement in `points`."""
    params = tuple(params)
    b = _Builder()
    entry = b.block(body, b.exit)
    nodes = b.nodes
    live_in = _liveness(nodes, local_names)
    may_in, must_in = _definedness(nodes, entry, frozenset(params), local_names)
    must: dict[int, tuple[str, ...]] = {}
    maybe: dict[int, tuple[str, ...]] = {}
    for stmt in points:
        n = b.by_stmt[id(stmt)]
        after: set[str] = set()
        for succ in n.succ:
            after |= live_in[id(succ)]
        after -= n.defs
        for handler in n.exc:
            after |= live_in[id(handler)]
        wanted = after & may_in[id(n)]
        must[id(stmt)] = tuple(sorted(wanted & must_in[id(n)]))
        maybe[id(stmt)] = tuple(sorted(wanted - must_in[id(n)]))
    entry_live = tuple(sorted(set(params) & live_in[id(entry)]))
    return Liveness(must, maybe, entry_live)


def _liveness(nodes: list[_Node], local_names: frozenset[str]) -> dict[int, set[str]]:
    live_in: dict[int, set[str]] = {id(n): set() for n in nodes}
    changed = True
    while changed:
        changed = False
        for n in nodes:  # built backwards, so this order converges quickly
            out: set[str] = set()
            for succ in n.succ:
                out |= live_in[id(succ)]
            new = set(n.uses & local_names) | (out - n.defs - n.kills)
            for handler in n.exc:
                new |= live_in[id(handler)]
            if new != live_in[id(n)]:
                live_in[id(n)] = new
                changed = True
    return live_in


def _definedness(
    nodes: list[_Node], entry: _Node, params: frozenset[str], universe: frozenset[str]
) -> tuple[dict[int, frozenset[str]], dict[int, frozenset[str]]]:
    preds: dict[int, list[tuple[_Node, bool]]] = {id(n): [] for n in nodes}
    for n in nodes:
        for succ in n.succ:
            preds[id(succ)].append((n, True))  # reached after n ran
        for handler in n.exc:
            preds[id(handler)].append((n, False))  # reached from inside n
    may_in = {id(n): frozenset[str]() for n in nodes}
    must_in = {id(n): universe for n in nodes}
    may_in[id(entry)] = must_in[id(entry)] = params
    changed = True
    while changed:
        changed = False
        for n in reversed(nodes):
            if n is entry:
                continue
            may, must = _merge(preds[id(n)], may_in, must_in, universe)
            if may != may_in[id(n)] or must != must_in[id(n)]:
                may_in[id(n)], must_in[id(n)] = may, must
                changed = True
    return may_in, must_in


def _merge(
    preds: list[tuple[_Node, bool]],
    may_in: dict[int, frozenset[str]],
    must_in: dict[int, frozenset[str]],
    universe: frozenset[str],
) -> tuple[frozenset[str], frozenset[str]]:
    may: frozenset[str] = frozenset()
    must = universe
    for p, completed in preds:
        p_may, p_must = may_in[id(p)], must_in[id(p)]
        if completed:
            p_may = (p_may | p.defs | p.maydefs) - p.kills
            p_must = (p_must | p.defs) - p.kills
        else:
            p_may = p_may | p.maydefs
            p_must = p_must - p.kills  # it may have raised half-way
        may |= p_may
        must &= p_must
    return may & universe, must
