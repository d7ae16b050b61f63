"""Pass 3: the resumable code, emitted on the normalised body (see `_rewrite` for the design).

`_Emitter` wraps each run of plain statements in ``if not _dur_ip:``, enters a compound
statement holding points only while the target may lie inside it, turns each point into
its frame call (``_dur_fr.pause``, ``_dur_fr.call``, ``_dur_fr.resume``; see
`FrameProtocol`) and re-enters lowered loops and handlers on resume. `_prologue` restores
the saved locals. What is emitted here runs in users' inner loops: keep it lean.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from ._normalise import _Normaliser
from ._points import PointInfo
from ._scopes import _is_lookup, _lookup_root, _walk_own
from ._syntax import FR, HELPERS, IP, LIVE, LOC, _at, _name

__all__ = ["_Emitter", "_prologue"]


class _Emitter:
    """Pass 3: guards, point code and the prologue, on the normalised body."""

    def __init__(self, norm: _Normaliser, ids: dict[int, int], live: dict[int, PointInfo]) -> None:
        self.norm = norm
        self.ids = ids  # id(point stmt) -> point id
        self.live = live
        self.last = max(ids.values(), default=0)

    def span(self, stmts: Sequence[ast.stmt]) -> tuple[int, int] | None:
        ids = [self.ids[id(n)] for s in stmts for n in _walk_own(s) if id(n) in self.ids]
        return (min(ids), max(ids)) if ids else None

    def block(self, stmts: Sequence[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        run: list[ast.stmt] = []
        for s in stmts:
            span = self.span([s])
            if span is None:
                run.append(s)
                continue
            if run:
                out.append(_at(ast.If(_not_ip(), run, []), run[0]))
                run = []
            if span[1] == self.last:
                out.extend(self.stmt(s))  # 0 <= _dur_ip <= last always holds
            else:
                out.append(_at(ast.If(_ip_le(span[1]), self.stmt(s), []), s))
        if run:
            out.append(_at(ast.If(_not_ip(), run, []), run[0]))
        return out

    def stmt(self, s: ast.stmt) -> list[ast.stmt]:
        if id(s) in self.ids:
            return self.point(s)
        if isinstance(s, (ast.If, ast.While)):
            test = self.branch_test(s.test, s.body, s.orelse)
            cls = type(s)
            return [_at(cls(test, self.block(s.body), self.block(s.orelse)), s)]
        if isinstance(s, ast.For):
            return self.for_(s)
        if isinstance(s, ast.Try):
            return self.try_(s)
        raise AssertionError(f"unexpected statement with points: {ast.dump(s)}")

    def branch_test(
        self, test: ast.expr, body: Sequence[ast.stmt], orelse: Sequence[ast.stmt]
    ) -> ast.expr:
        """`test` when running; when seeking, whether the target lies in `body`."""
        if not self.span(orelse):
            return ast.BoolOp(ast.Or(), [_name(IP), test])  # seeking: always the body
        if not self.span(body):
            return ast.BoolOp(ast.And(), [_not_ip(), test])  # seeking: always the else
        return ast.IfExp(_name(IP), self.seek_test(body), test)

    def seek_test(self, body: Sequence[ast.stmt]) -> ast.expr:
        span = self.span(body)
        return _ip_le(span[1]) if span else ast.Constant(False)

    def for_(self, s: ast.For) -> list[ast.stmt]:
        body_span = self.span(s.body)
        out: list[ast.stmt] = []
        if id(s) in self.norm.lowered and body_span:
            it = self.norm.lowered[id(s)]
            seeking_body: ast.expr = _name(IP)
            if self.span(s.orelse):
                seeking_body = ast.Compare(
                    ast.Constant(0), [ast.Lt(), ast.LtE()], [_name(IP), ast.Constant(body_span[1])]
                )
            rewind = ast.Assign([_name(it, True)], ast.Call(_name(HELPERS[1]), [_name(it)], []))
            out.append(_at(ast.If(seeking_body, [rewind], []), s))
        iter_: ast.expr = s.iter
        if self.span(s.orelse):
            iter_ = ast.IfExp(self.seek_test(s.body), s.iter, ast.Tuple([], ast.Load()))
            if not body_span:
                iter_ = ast.IfExp(_name(IP), ast.Tuple([], ast.Load()), s.iter)
        body = self.block(s.body)
        target = self.norm.seek_restore.get(id(s))
        if target and body_span:
            body = _restore_when_seeking(body, target, s)
        loop = ast.For(s.target, iter_, body, self.block(s.orelse), None)
        out.append(_at(loop, s))
        return out

    def try_(self, s: ast.Try) -> list[ast.stmt]:
        if id(s) in self.norm.pending_finally:
            # A pausing ``finally`` (see `_Normaliser.completion_record`): its body raises
            # the pending exception again also while seeking, so that the rest of the
            # ``finally`` runs with that exception current, as in Python.
            return [_at(ast.Try(s.body, [], [], self.block(s.finalbody)), s)]
        enter: list[ast.stmt] = []
        handlers = []
        reentered = any(self.span(h.body) and id(h) in self.norm.handler_ex for h in s.handlers)
        for h in s.handlers:
            span = self.span(h.body)
            if span and id(h) in self.norm.handler_ex:
                reraise = ast.Raise(_name(self.norm.handler_ex[id(h)]), None)
                enter.append(_at(ast.If(_ip_in(span), [reraise], []), h))
            body = self.block(h.body)
            if _may_catch_base(h.type):
                body = [_at(ast.If(_suspending(), [ast.Raise(None, None)], []), h), *body]
            type_ = self.handler_type(h.type, span, reentered)
            handlers.append(_at(ast.ExceptHandler(type_, h.name, body), h))
        final = s.finalbody
        if final:
            final = [_at(ast.If(ast.UnaryOp(ast.Not(), _suspending()), final, []), final[0])]
        body = [*enter, *self.block(s.body)]
        return [_at(ast.Try(body, handlers, self.block(s.orelse), final), s)]

    def handler_type(
        self, t: ast.expr | None, span: tuple[int, int] | None, reentered: bool
    ) -> ast.expr | None:
        """A handler type, evaluated only when plain Python would evaluate it.

        Not while a pause unwinds the stack: a computed type may have side effects, a local
        may be unbound (global names and their attributes are left alone). Not while seeking,
        when the saved exception is raised again to re-enter a handler of this ``try``
        (`reentered`): it must reach that handler without evaluating any type again (a local
        type may not have been saved), so a type is then ``()`` (matching nothing), or
        ``BaseException`` in the handler being re-entered.
        """
        if t is None:
            return t
        if not _is_global_type(t, self.norm.local_names):
            t = ast.IfExp(_suspending(), ast.Tuple([], ast.Load()), t)
        if not reentered:
            return t
        seek: ast.expr = ast.Tuple([], ast.Load())
        if span:
            seek = ast.IfExp(_ip_in(span), _name("BaseException"), seek)
        return ast.IfExp(_name(IP), seek, t)

    def point(self, s: ast.stmt) -> list[ast.stmt]:
        info = self.live[id(s)]
        live = self.live_dict(info, s)
        if info.kind == "pause":
            assert isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
            event = s.value.args[0]
            pause = ast.Expr(
                ast.Await(
                    ast.Call(
                        ast.Attribute(_name(FR), "pause", ast.Load()),
                        [ast.Constant(info.id), event, _name(LIVE)],
                        [],
                    )
                )
            )
            reset = ast.Assign([_name(IP, True)], ast.Constant(0))
            return [_at(ast.If(_name(IP), [reset], [*live, pause]), s)]
        assert isinstance(s, ast.Assign) and isinstance(s.value, ast.Await)
        call = s.value.value
        assert isinstance(call, ast.Call)
        target = s.targets[0]
        resume = ast.Call(
            ast.Attribute(_name(FR), "resume", ast.Load()),
            [ast.Constant(info.id), _name(LIVE)],
            [],
        )
        start = ast.Call(
            ast.Attribute(_name(FR), "call", ast.Load()),
            [ast.Constant(info.id), _name(LIVE), call.func, *call.args],
            call.keywords,
        )
        seek: list[ast.stmt] = [
            ast.Assign([_name(IP, True)], ast.Constant(0)),
            ast.Assign([target], ast.Await(resume)),
        ]
        go: list[ast.stmt] = [ast.Assign([target], ast.Await(start))]
        return [*live, _at(ast.If(_name(IP), seek, go), s)]

    def live_dict(self, info: PointInfo, s: ast.stmt) -> list[ast.stmt]:
        d = ast.Dict([ast.Constant(n) for n in info.live], [_name(n) for n in info.live])
        out: list[ast.stmt] = [_at(ast.Assign([_name(LIVE, True)], d), s)]
        for n in info.maybe:
            store = ast.Assign([ast.Subscript(_name(LIVE), ast.Constant(n), ast.Store())], _name(n))
            skip = ast.ExceptHandler(_name("NameError"), None, [ast.Pass()])
            out.append(_at(ast.Try([store], [skip], [], []), s))
        return out


def _ip_le(hi: int) -> ast.expr:
    return ast.Compare(_name(IP), [ast.LtE()], [ast.Constant(hi)])


def _not_ip() -> ast.expr:
    return ast.UnaryOp(ast.Not(), _name(IP))


def _ip_in(span: tuple[int, int]) -> ast.expr:
    return ast.Compare(
        ast.Constant(span[0]), [ast.LtE(), ast.LtE()], [_name(IP), ast.Constant(span[1])]
    )


def _suspending() -> ast.expr:
    return ast.Attribute(_name(FR), "suspending", ast.Load())


def _restore_when_seeking(body: list[ast.stmt], name: str, where: ast.AST) -> list[ast.stmt]:
    """Re-read `name` from the saved locals when the loop is re-entered by a resume.

    Folded into the ``else`` of the body's leading ``if not _dur_ip:`` guard when there is
    one, so the running loop pays nothing for it.
    """
    has = ast.Compare(ast.Constant(name), [ast.In()], [_name(LOC)])
    get = ast.Assign([_name(name, True)], ast.Subscript(_name(LOC), ast.Constant(name), ast.Load()))
    restore = _at(ast.If(has, [get], []), where)
    first = body[0] if body else None
    if (
        isinstance(first, ast.If)
        and not first.orelse
        and ast.dump(first.test) == ast.dump(_not_ip())
    ):
        first.orelse = [restore]
        return body
    return [_at(ast.If(_name(IP), [restore], []), where), *body]


def _is_global_type(t: ast.expr, local_names: set[str]) -> bool:
    """Global names and attribute chains on them (or a tuple of them): evaluating them has
    no effect and cannot fail for want of a local."""
    if isinstance(t, ast.Tuple):
        return all(_is_global_type(e, local_names) for e in t.elts)
    return _is_lookup(t) and _lookup_root(t) not in local_names


def _may_catch_base(t: ast.expr | None) -> bool:
    """Could this handler type catch the internal pause signal (a BaseException)?"""
    if t is None:
        return True
    if isinstance(t, ast.Tuple):
        return any(_may_catch_base(e) for e in t.elts)
    if isinstance(t, ast.Name):
        return t.id == "BaseException"
    return not isinstance(t, ast.Attribute)


def _prologue(restore: Sequence[str]) -> list[ast.stmt]:
    out: list[ast.stmt] = [
        ast.Assign([_name(IP, True)], ast.Attribute(_name(FR), "ip", ast.Load())),
        ast.Assign([_name(LOC, True)], ast.Attribute(_name(FR), "locals", ast.Load())),
    ]
    for n in restore:
        has = ast.Compare(ast.Constant(n), [ast.In()], [_name(LOC)])
        get = ast.Assign([_name(n, True)], ast.Subscript(_name(LOC), ast.Constant(n), ast.Load()))
        out.append(ast.If(has, [get], []))
    return out
