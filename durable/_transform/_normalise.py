"""Pass 1, the rewriter's core: awaits become points, in plain statements the emitter re-enters.

`_Normaliser` lifts each awaited call out of its expression into a statement of its own
(``t = await f(x)``: a *call point*) and each ``raise PauseForEventException(...)`` into a
*pause point*, keeping Python's order of evaluation (values computed before an await wait
in hidden temps). It lowers what holds points into forms the emitter can re-enter without
running anything twice: ``for`` loops over saved iterators, ``while`` tests that await,
``match`` statements into ``if`` chains, a ``finally`` that pauses into a completion
record, awaiting comprehensions into loops. Statements no pause can cross (``with``,
``async for``, ``try``/``except*``) are sealed: their awaits stay native.

It records what the later passes need: the points, lowered loops and their iterator temps,
handlers re-entered by raising their exception again, and the hidden temps.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from ..errors import UnsupportedSyntaxError
from ._scopes import (
    _COMPREHENSIONS,
    _bound_names,
    _comprehension_parts,
    _comprehension_vars,
    _defaults,
    _has_call_await,
    _is_lookup,
    _lookup_root,
    _lowerable,
    _outer_parts,
    _walk_own,
    _with_defaults,
)
from ._syntax import HELPERS, PREFIX, _at, _name

__all__ = ["_Normaliser"]

_PAUSE_NAME = "PauseForEventException"
_NON_RESUMABLE = "a pause cannot be saved inside {what}"
_PENDING = -2  # a `match` case whose pattern matched and whose awaiting guard is not yet run


def _is_pause(s: ast.stmt) -> bool:
    if not isinstance(s, ast.Raise) or s.cause is not None or not isinstance(s.exc, ast.Call):
        return False
    f = s.exc.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
    return name == _PAUSE_NAME


def _key(node: ast.AST | None) -> str:
    """A short identifier-safe key for a temp: the loop target or the exception type."""
    text = "any" if node is None else ast.unparse(node)
    return "".join(c if c.isalnum() else "_" for c in text)[:24] or "x"


class _Normaliser:
    """Pass 1: lift awaited calls out of expressions, lower loops/matches that hold points
    and comprehensions that await calls."""

    def __init__(self, filename: str, local_names: set[str]) -> None:
        self.filename = filename
        self.local_names = local_names
        self.points: dict[int, tuple[Literal["pause", "call"], ast.stmt]] = {}
        self.lowered: dict[int, str] = {}  # id(For) -> its iterator temp
        self.seek_restore: dict[int, str] = {}  # id(For) -> its target name, re-read on resume
        self.handler_ex: dict[int, str] = {}  # id(handler stmt body owner) -> exception temp
        self.hidden: dict[str, str] = {}
        self._temps: dict[str, int] = {}
        self.explicit: dict[int, str] = {}  # id(point stmt) -> the name the user gave it
        self.described: dict[int, str] = {}  # id(point stmt) -> default name before numbering
        self.comprehension_loops: dict[int, str] = {}  # id(For) -> key of its iterator temp
        # id(Try) -> its completion record: the `try` holding a pausing `finally`, whose body
        # raises the pending exception again (also while seeking into the `finally`)
        self.pending_finally: dict[int, str] = {}

    # -- helpers ---------------------------------------------------------------------------

    def error(self, node: ast.AST, message: str) -> UnsupportedSyntaxError:
        return UnsupportedSyntaxError(
            message, filename=self.filename, lineno=getattr(node, "lineno", 0)
        )

    def temp(self, what: str, node: ast.AST, key: str = "t") -> str:
        """A hidden local. Named by kind and occurrence (``_dur_it_item1``), not by position,
        so that an edit elsewhere in the function does not rename it in saved snapshots."""
        self._temps[key] = self._temps.get(key, 0) + 1
        name = f"{PREFIX}{key}{self._temps[key]}"
        self.local_names.add(name)
        self.hidden[name] = f"{what} at line {getattr(node, 'lineno', '?')}"
        return name

    def has_points(self, stmts: Sequence[ast.stmt]) -> bool:
        return any(id(n) in self.points for s in stmts for n in _walk_own(s))

    # -- statements ------------------------------------------------------------------------

    def block(self, stmts: Sequence[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for s in stmts:
            new = self.stmt(s)
            for n in new:
                ast.copy_location(n, s)
            out.extend(new)
        return out

    def stmt(self, s: ast.stmt) -> list[ast.stmt]:
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return self.definition(s)
        if isinstance(s, (ast.With, ast.AsyncWith)):
            return self.with_(s)
        if isinstance(s, ast.AsyncFor):
            self.sealed(s, "an `async for` loop; collect the items into a list first")
            pre, iter_ = self.lift(s.iter)  # evaluated once, before the loop
            if not pre:
                return [s]
            return [*pre, ast.AsyncFor(s.target, iter_, s.body, s.orelse, s.type_comment)]
        if isinstance(s, ast.TryStar):
            return self.sealed(s, "a `try`/`except*` statement")
        if isinstance(s, ast.If):
            pre, test = self.lift(s.test)
            return [*pre, ast.If(test, self.block(s.body), self.block(s.orelse))]
        if isinstance(s, ast.While):
            return self.while_(s)
        if isinstance(s, ast.For):
            return self.for_(s)
        if isinstance(s, ast.Try):
            return self.try_(s)
        if isinstance(s, ast.Match):
            return self.match(s)
        if isinstance(s, ast.Raise) and _is_pause(s):
            return self.pause(s)
        return self.simple(s)

    def sealed(self, s: ast.stmt, what: str) -> list[ast.stmt]:
        """A statement no pause may cross: awaits inside stay native."""
        for n in ast.walk(s):
            if isinstance(n, ast.Raise) and _is_pause(n):
                raise self.error(n, _NON_RESUMABLE.format(what=what))
        return [s]

    def with_(self, s: ast.With | ast.AsyncWith) -> list[ast.stmt]:
        """Only the first item's expression is evaluated before anything is entered, so only
        its awaits become points; a later item (and every ``as`` target) is evaluated after
        an earlier context was entered, and its awaits stay native (run inline).

        Rejected: nesting the items (``with a: with b:``), which would put the later awaits
        inside a ``with``, where a pause cannot be saved anyway.
        """
        what = "a `with` block; move the pause out of it"
        if isinstance(s, ast.AsyncWith):
            what = "an `async with` block; move the pause out of it"
        self.sealed(s, what)
        first = s.items[0]
        pre, expr = self.lift(first.context_expr)
        if not pre:
            return [s]
        new = copy.copy(s)
        new.items = [ast.withitem(expr, first.optional_vars), *s.items[1:]]
        return [*pre, new]

    def definition(
        self, s: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    ) -> list[ast.stmt]:
        """Awaits in decorators, defaults, bases: points before the statement, in order.

        A decorator or base that is a name or attribute chain is looked up after the awaits
        (like the function of a call, see `lift_seq`): functions and classes cannot be saved.
        Left native (inline) with PEP 695 type parameters, whose scope holds some of them.
        """
        parts = _outer_parts(s)
        if getattr(s, "type_params", None) or not any(map(_has_call_await, parts)):
            return [s]
        lookups = set(range(len(s.decorator_list)))
        if isinstance(s, ast.ClassDef):
            lookups |= {len(s.decorator_list) + i for i in range(len(s.bases))}
        pre, values = self.lift_seq(parts, lookups=lookups)
        new = copy.copy(s)
        rest = iter(values)
        new.decorator_list = [next(rest) for _ in s.decorator_list]
        if isinstance(new, ast.ClassDef):
            new.bases = [next(rest) for _ in new.bases]
            new.keywords = [ast.keyword(k.arg, next(rest)) for k in new.keywords]
        else:
            new.args = _with_defaults(new.args, list(rest))
        return [*pre, new]

    def pause(self, s: ast.Raise) -> list[ast.stmt]:
        assert isinstance(s.exc, ast.Call)
        keywords = {k.arg: k.value for k in s.exc.keywords}
        if len(s.exc.args) != 1 or set(keywords) - {"point"}:
            raise self.error(s, "PauseForEventException takes one event name (and point=)")
        pre, event = self.lift(s.exc.args[0])
        bound = _bound_names([event])
        if bound:  # a walrus must bind before the live locals are saved
            pre, event = self.hoist(pre, event, "the event name", s, bound)
        marker = ast.Expr(ast.Call(_name(f"{PREFIX}pause"), [event], []))
        ast.copy_location(marker, s)
        self.points[id(marker)] = ("pause", marker)
        self.described[id(marker)] = f"pause:{ast.unparse(s.exc.args[0])}"
        if "point" in keywords:
            name = keywords["point"]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                raise self.error(s, "point= names a pause with a string literal")
            self.explicit[id(marker)] = name.value
        return [*pre, marker]

    def simple(self, s: ast.stmt) -> list[ast.stmt]:
        if not _has_call_await(s):
            return [s]
        if isinstance(s, ast.Expr):
            pre, value = self.lift(s.value)
            return [*pre, ast.Expr(value)] if not isinstance(value, ast.Name) else pre
        if isinstance(s, ast.Assign):
            return self.assign(s.targets, s.value, s)
        if isinstance(s, ast.AnnAssign):
            return self.ann_assign(s)
        if isinstance(s, ast.AugAssign):
            return self.aug_assign(s)
        if isinstance(s, ast.Delete):
            return [d for t in s.targets for d in self.delete(t)]
        if isinstance(s, ast.Return) and s.value is not None:
            pre, value = self.lift(s.value)
            return [*pre, ast.Return(value)]
        if isinstance(s, ast.Raise):
            pre, exc = self.lift(s.exc) if s.exc else ([], None)
            pre2, cause = self.lift(s.cause) if s.cause else ([], None)
            if pre2 and exc is not None:
                pre, exc = self.hoist(pre, exc, "the raised exception", s)
            return [*pre, *pre2, ast.Raise(exc, cause)]
        if isinstance(s, ast.Assert):
            return self.assertion(s)
        raise self.error(s, "this statement cannot await a call here; await it on its own line")

    def lift_into(self, value: ast.expr, target: str) -> list[ast.stmt]:
        """``target = value``, with the top-level awaited call made a point writing `target`."""
        if isinstance(value, ast.Await) and isinstance(value.value, ast.Call):
            return self.call_point(value.value, target)
        pre, new = self.lift(value)
        return [*pre, ast.Assign([_name(target, True)], new)]

    def assign(self, targets: Sequence[ast.expr], value: ast.expr, s: ast.stmt) -> list[ast.stmt]:
        if not any(map(_has_call_await, targets)):
            if len(targets) == 1 and isinstance(targets[0], ast.Name):
                return self.lift_into(value, targets[0].id)
            pre, new = self.lift(value)
            return [*pre, ast.Assign(list(targets), new)]
        # Python evaluates the value, then stores it in each target from left to right, each
        # target's own parts evaluated just before its store: the value waits in a temp.
        pre, new = self.lift(value)
        pre, new = self.hoist(pre, new, "the value of an assignment", s, _bound_names(targets))
        return [*pre, *(a for t in targets for a in self.store(t, new))]

    def store(self, target: ast.expr, value: ast.expr) -> list[ast.stmt]:
        """``target = value``, lifting awaits out of the target; `value` is a name or constant
        that nothing in the target rebinds."""
        if not _has_call_await(target):
            return [ast.Assign([target], value)]
        if isinstance(target, (ast.Tuple, ast.List)):
            return self.unpack(target, value)
        if isinstance(target, ast.Attribute):
            pre, obj = self.lift(target.value)
            return [*pre, ast.Assign([ast.Attribute(obj, target.attr, ast.Store())], value)]
        if isinstance(target, ast.Subscript):
            pre, (obj, key) = self.lift_seq([target.value, target.slice])
            return [*pre, ast.Assign([ast.Subscript(obj, key, ast.Store())], value)]
        raise self.error(target, "this assignment target cannot await a call")

    def unpack(self, target: ast.Tuple | ast.List, value: ast.expr) -> list[ast.stmt]:
        """Python unpacks the whole value (checking its length) before storing anything, then
        stores the items in order; a nested target is unpacked when its turn comes."""
        temps = [self.temp("an unpacked item", target, "unpack") for _ in target.elts]
        pattern: list[ast.expr] = [
            ast.Starred(_name(t, True), ast.Store())
            if isinstance(e, ast.Starred)
            else _name(t, True)
            for t, e in zip(temps, target.elts, strict=True)
        ]
        out: list[ast.stmt] = [ast.Assign([ast.Tuple(pattern, ast.Store())], value)]
        for t, e in zip(temps, target.elts, strict=True):
            out += self.store(e.value if isinstance(e, ast.Starred) else e, _name(t))
        return out

    def ann_assign(self, s: ast.AnnAssign) -> list[ast.stmt]:
        # Python never evaluates the annotation of a local variable (PEP 526).
        if s.value is not None:
            return self.assign([s.target], s.value, s)
        if isinstance(s.target, ast.Name):
            return [s]  # only the annotation awaits: nothing runs
        # A target without a value: its object (and key) are evaluated, nothing is stored.
        parts = [s.target.value]
        if isinstance(s.target, ast.Subscript):
            parts.append(s.target.slice)
        pre, values = self.lift_seq(parts)
        return [*pre, *(ast.Expr(v) for v in values)]

    def aug_assign(self, s: ast.AugAssign) -> list[ast.stmt]:
        # Python evaluates the target's object and key, reads the old value, evaluates the
        # right side, then stores: object, key and old value wait in temps.
        rebound = _bound_names([s.value])
        what = "the object of an augmented assignment"
        pre: list[ast.stmt] = []
        target = s.target
        if isinstance(target, ast.Attribute):
            pre, obj = self.lift(target.value)
            pre, obj = self.hoist(pre, obj, what, s, rebound)
            target = ast.Attribute(obj, target.attr, ast.Store())
        elif isinstance(target, ast.Subscript):
            pre, (obj, key) = self.lift_seq([target.value, target.slice])
            pre, obj = self.hoist(pre, obj, what, s, rebound)
            pre, key = self.hoist(pre, key, "the key of an augmented assignment", s, rebound)
            target = ast.Subscript(obj, key, ast.Store())
        old = self.temp("the old value of an augmented assignment", s, "old")
        load = copy.copy(target)
        load.ctx = ast.Load()
        pre.append(ast.Assign([_name(old, True)], load))
        more, value = self.lift(s.value)
        return [
            *pre,
            *more,
            ast.AugAssign(_name(old, True), s.op, value),
            ast.Assign([target], _name(old)),
        ]

    def delete(self, target: ast.expr) -> list[ast.stmt]:
        """``del a, b`` deletes `a` (evaluating its object and key) before evaluating `b`."""
        if not _has_call_await(target):
            return [ast.Delete([target])]
        if isinstance(target, (ast.Tuple, ast.List)):
            return [d for e in target.elts for d in self.delete(e)]
        if isinstance(target, ast.Attribute):
            pre, obj = self.lift(target.value)
            return [*pre, ast.Delete([ast.Attribute(obj, target.attr, ast.Del())])]
        if isinstance(target, ast.Subscript):
            pre, (obj, key) = self.lift_seq([target.value, target.slice])
            return [*pre, ast.Delete([ast.Subscript(obj, key, ast.Del())])]
        raise self.error(target, "this `del` target cannot await a call")

    def assertion(self, s: ast.Assert) -> list[ast.stmt]:
        pre, test = self.lift(s.test)
        if s.msg is None or not _has_call_await(s.msg):
            return [*pre, ast.Assert(test, s.msg)]
        # The message is evaluated only when the test fails. (Under ``python -O`` this form
        # still runs: asserts are not stripped once lowered.)
        more, msg = self.lift(s.msg)
        fail = ast.Raise(ast.Call(_name("AssertionError"), [msg], []), None)
        return [*pre, ast.If(ast.UnaryOp(ast.Not(), test), [*more, fail], [])]

    def while_(self, s: ast.While) -> list[ast.stmt]:
        pre, test = self.lift(s.test)
        body = self.block(s.body)
        orelse = self.block(s.orelse)
        if not pre:
            return [ast.While(test, body, orelse)]
        # ``while await c():`` -> ``while True: t = await c(); if not t: break``; a flag keeps
        # the ``else`` clause's meaning (it runs unless the body breaks).
        exit_ = ast.If(ast.UnaryOp(ast.Not(), test), [ast.Break()], [])
        if not orelse:
            return [ast.While(ast.Constant(True), [*pre, exit_, *body], [])]
        flag = self.temp("the loop-else flag", s, "else")
        body = _flag_breaks(body, flag)
        loop = ast.While(ast.Constant(True), [*pre, exit_, *body], [])
        return [
            ast.Assign([_name(flag, True)], ast.Constant(False)),
            loop,
            ast.If(ast.UnaryOp(ast.Not(), _name(flag)), orelse, []),
        ]

    def for_(self, s: ast.For) -> list[ast.stmt]:
        what, key = "the `for` loop", _key(s.target)
        if id(s) in self.comprehension_loops:
            what, key = "a comprehension", self.comprehension_loops[id(s)]
        if _has_call_await(s.target):
            # Each item is stored in the target (its awaits evaluated) as the body's first
            # statement, so those awaits become points inside the loop.
            item = self.temp(f"the current item of {what}", s, "item")
            bind = ast.copy_location(ast.Assign([s.target], _name(item)), s)
            loop = ast.For(_name(item, True), s.iter, [bind, *s.body], s.orelse, None)
            s = ast.copy_location(loop, s)
        pre, iter_ = self.lift(s.iter)
        body = self.block(s.body)
        orelse = self.block(s.orelse)
        if not self.has_points(body):
            return [*pre, ast.For(s.target, iter_, body, orelse, s.type_comment)]
        it = self.temp(f"the iterator of {what}", s, f"it_{key}")
        if isinstance(s.target, ast.Name):
            # The loop binds the name itself; on resume the emitter re-reads the saved value
            # after the re-fetch (the body may have rebound it before the pause).
            loop = ast.For(s.target, _name(it), body, orelse, None)
            self.seek_restore[id(loop)] = s.target.id
        else:
            item = self.temp(f"the current item of {what}", s, "item")
            bind = ast.copy_location(ast.Assign([s.target], _name(item)), s)
            loop = ast.For(_name(item, True), _name(it), [bind, *body], orelse, None)
        self.lowered[id(loop)] = it
        get_iter = ast.Assign([_name(it, True)], ast.Call(_name(HELPERS[0]), [iter_], []))
        return [*pre, get_iter, loop]

    def try_(self, s: ast.Try) -> list[ast.stmt]:
        s = self.split_handlers(s)
        body = self.block(s.body)
        handlers = [self.handler(h) for h in s.handlers]
        orelse = self.block(s.orelse)
        final = self.block(s.finalbody)
        if not self.has_points(final):
            return [ast.Try(body, handlers, orelse, final)]
        return self.completion_record(s, body, handlers, orelse, final)

    def split_handlers(self, s: ast.Try) -> ast.Try:
        """Handlers from the first whose type awaits on become one broad handler::

            try: ...                          try: ...
            except A: ...                     except A: ...
            except (await f()) as e: ...  ->  except BaseException:
            except B: ...                         types = await f()
                                                  try: raise
                                                  except types as e: ...
                                                  except B: ...

        Python evaluates a handler's type only for an exception that reached it, after the
        types before it failed to match; re-raising the handled exception into the remaining
        handlers keeps Python's own matching (``TypeError`` for a non-exception type, an
        unmatched exception propagating unchanged). The ``else`` and ``finally`` clauses stay
        on the outer ``try``. A later handler whose type awaits is split in turn.
        """
        k = next((i for i, h in enumerate(s.handlers) if h.type and _has_call_await(h.type)), None)
        if k is None:
            return s
        h = s.handlers[k]
        assert h.type is not None
        types = self.temp("the types of an `except` clause", h, "types")
        first = _at(ast.ExceptHandler(_name(types), h.name, h.body), h)
        rethrow = _at(
            ast.Try([_at(ast.Raise(None, None), h)], [first, *s.handlers[k + 1 :]], [], []), h
        )
        evaluate = _at(ast.Assign([_name(types, True)], h.type), h.type)
        broad = _at(ast.ExceptHandler(_name("BaseException"), None, [evaluate, rethrow]), h)
        return _at(ast.Try(s.body, [*s.handlers[:k], broad], s.orelse, s.finalbody), s)

    def completion_record(
        self,
        s: ast.Try,
        body: list[ast.stmt],
        handlers: list[ast.ExceptHandler],
        orelse: list[ast.stmt],
        final: list[ast.stmt],
    ) -> list[ast.stmt]:
        """A ``finally`` that may pause: the ``try`` part ends first, then the ``finally``.

        How the ``try`` part ended is kept in a completion record (regenerator's design),
        saved across the pause. The ``finally`` code stays a real ``finally``, of a ``try``
        that raises the pending exception again, so that inside it ``sys.exc_info()``, a
        bare ``raise`` and implicit chaining (``__context__``) are Python's, also after a
        resume (the emitter runs that ``try`` while seeking into the ``finally``)::

            cr = None
            while True:                     # `break` leaves the try part early
                try:
                    <try/except/else>       # return v -> cr = ("return", v); break
                except BaseException as e:  # (and likewise break / continue)
                    cr = ("raise", e)
                break
            try:
                if cr is not None and cr[0] == "raise":
                    <raise cr[1] again, keeping its __context__>
            finally:
                <finally code>
            if cr is not None: return / break / continue as recorded
        """
        cr = self.temp("the pending outcome of a `try` whose `finally` pauses", s, "cr")
        ex = self.temp("the exception pending across a `finally`", s, "pending")
        kinds: set[str] = set()
        inner: list[ast.stmt] = [ast.Try(body, handlers, orelse, [])] if handlers else body
        if orelse and not handlers:
            inner = [*body, *orelse]
        inner = _record_exits(inner, cr, kinds)
        record_raise = ast.Assign([_name(cr, True)], _completion("raise", _name(ex)))
        guarded = ast.Try(
            inner, [ast.ExceptHandler(_name("BaseException"), ex, [record_raise])], [], []
        )
        loop = ast.While(ast.Constant(True), [guarded, ast.Break()], [])
        raising = ast.BoolOp(
            ast.And(),
            [
                ast.Compare(_name(cr), [ast.IsNot()], [ast.Constant(None)]),
                ast.Compare(_subscript(cr, 0), [ast.Eq()], [ast.Constant("raise")]),
            ],
        )
        context = self.temp("the context of an exception raised again", s, "context")
        again = ast.If(raising, self.raise_again(_subscript(cr, 1), context), [])
        finally_ = ast.Try([again], [], [], final)
        self.pending_finally[id(finally_)] = cr
        dispatch: list[ast.stmt] = []
        for kind in ("continue", "break", "return"):
            if kind in kinds:
                test = ast.Compare(_subscript(cr, 0), [ast.Eq()], [ast.Constant(kind)])
                dispatch = [ast.If(test, [_EXIT[kind](cr)], dispatch)]
        pending = ast.Compare(_name(cr), [ast.IsNot()], [ast.Constant(None)])
        return [
            ast.Assign([_name(cr, True)], ast.Constant(None)),
            loop,
            finally_,
            *([ast.If(pending, dispatch, [])] if dispatch else []),
        ]

    @staticmethod
    def raise_again(exc: ast.expr, context: str) -> list[ast.stmt]:
        """Raise the exception `exc` (a name or a subscript of one) again, as if it had never
        been caught: a ``raise`` would set its ``__context__`` to the exception being handled
        here, if any, so the one it had is put back before it propagates."""
        keep = ast.Assign([_name(context, True)], ast.Attribute(exc, "__context__", ast.Load()))
        put_back = ast.Assign(
            [ast.Attribute(copy.deepcopy(exc), "__context__", ast.Store())], _name(context)
        )
        handler = ast.ExceptHandler(_name("BaseException"), None, [put_back, ast.Raise(None, None)])
        return [keep, ast.Try([ast.Raise(copy.deepcopy(exc), None)], [handler], [], [])]

    def handler(self, h: ast.ExceptHandler) -> ast.ExceptHandler:
        body = self.block(h.body)
        if not self.has_points(body):
            return ast.copy_location(ast.ExceptHandler(h.type, h.name, body), h)
        ex = self.temp("the exception handled", h, f"ex_{_key(h.type)}")
        if h.name:
            # Python unbinds the name when the handler ends, however it ends.
            bind = ast.copy_location(ast.Assign([_name(h.name, True)], _name(ex)), h)
            unbind: list[ast.stmt] = [
                ast.Assign([_name(h.name, True)], ast.Constant(None)),
                ast.Delete([ast.Name(h.name, ast.Del())]),
            ]
            body = [bind, ast.copy_location(ast.Try(body, [], [], unbind), h)]
        new = ast.copy_location(ast.ExceptHandler(h.type, ex, body), h)
        self.handler_ex[id(new)] = ex
        return new

    def match(self, s: ast.Match) -> list[ast.stmt]:
        bodies = [self.block(c.body) for c in s.cases]
        pre, subject = self.lift(s.subject)
        awaiting = [c.guard is not None and _has_call_await(c.guard) for c in s.cases]
        if not any(awaiting) and not any(self.has_points(b) for b in bodies):
            cases = [
                ast.match_case(c.pattern, c.guard, b) for c, b in zip(s.cases, bodies, strict=True)
            ]
            return [*pre, ast.Match(subject, cases)]
        # Choose the case once (patterns and guards run once), then dispatch with an ``if``
        # chain, which the emitter knows how to re-enter without re-evaluating anything.
        chosen = self.temp("the chosen `match` case", s, "case")
        dispatch: list[ast.stmt] = []
        for i in reversed(range(len(bodies))):
            test = ast.Compare(_name(chosen), [ast.Eq()], [ast.Constant(i)])
            dispatch = [ast.copy_location(ast.If(test, bodies[i] or [ast.Pass()], dispatch), s)]
        return [*pre, *self.choose(s, subject, chosen, awaiting), *dispatch]

    def choose(
        self, s: ast.Match, subject: ast.expr, chosen: str, awaiting: list[bool]
    ) -> list[ast.stmt]:
        """Set `chosen` to the index of the case that runs (-1: none), running each pattern
        and guard as Python does: in order, a guard only after its pattern matched and bound
        its captures, which stay bound if the guard fails.

        Patterns stay native. A guard that awaits cannot (a pause cannot be saved inside a
        ``match``): its case ends one native ``match``, which marks it `_PENDING`; the guard
        follows as ordinary code; the cases after it form another ``match`` on the same
        subject (kept in a temp: evaluated once), tried only if the guard failed.
        """
        groups: list[list[int]] = [[]]
        for i, awaits in enumerate(awaiting):
            groups[-1].append(i)
            if awaits and i < len(awaiting) - 1:
                groups.append([])
        out: list[ast.stmt] = []
        if len(groups) > 1:
            bound = _bound_names([n for c in s.cases for n in (c.pattern, c.guard)])
            out, subject = self.hoist(out, subject, "the subject of a `match`", s, bound)
        out.append(ast.Assign([_name(chosen, True)], ast.Constant(-1)))
        for n, group in enumerate(groups):
            cases = []
            for i in group:
                c = s.cases[i]
                mark = _PENDING if awaiting[i] else i
                guard = None if awaiting[i] else c.guard
                set_ = ast.Assign([_name(chosen, True)], ast.Constant(mark))
                cases.append(ast.match_case(c.pattern, guard, [_at(set_, c.pattern)]))
            step: list[ast.stmt] = [ast.Match(subject, cases)]
            if awaiting[group[-1]]:
                step.append(self.guard(s.cases[group[-1]], group[-1], chosen))
            if n == 0:
                out += step
            else:
                untried = ast.Compare(_name(chosen), [ast.Eq()], [ast.Constant(-1)])
                out.append(ast.If(untried, step, []))
        return out

    def guard(self, case: ast.match_case, index: int, chosen: str) -> ast.stmt:
        """``if chosen == _PENDING: chosen = -1; if <guard>: chosen = index``."""
        assert case.guard is not None
        pre, test = self.lift(case.guard)
        set_ = ast.Assign([_name(chosen, True)], ast.Constant(index))
        body = [ast.Assign([_name(chosen, True)], ast.Constant(-1)), *pre, ast.If(test, [set_], [])]
        pending = ast.Compare(_name(chosen), [ast.Eq()], [ast.Constant(_PENDING)])
        return _at(ast.If(pending, body, []), case.guard)

    # -- expressions -----------------------------------------------------------------------

    def call_point(self, call: ast.Call, target: str) -> list[ast.stmt]:
        exprs = [call.func, *call.args, *(k.value for k in call.keywords)]
        # The live locals are saved after the arguments are evaluated: a walrus in them must
        # run before, so then every argument is computed into a temp first.
        pre, parts = self.lift_seq(exprs, lookups=[0], all_before=bool(_bound_names(exprs)))
        func, args = parts[0], parts[1 : 1 + len(call.args)]
        kws = [
            ast.keyword(k.arg, v)
            for k, v in zip(call.keywords, parts[1 + len(call.args) :], strict=True)
        ]
        point = ast.Assign([_name(target, True)], ast.Await(ast.Call(func, args, kws)))
        ast.copy_location(point, call)
        self.points[id(point)] = ("call", point)
        self.described[id(point)] = f"call:{ast.unparse(call.func)}"
        return [*pre, point]

    def hoist(
        self,
        pre: list[ast.stmt],
        value: ast.expr,
        what: str,
        node: ast.AST,
        rebound: frozenset[str] = frozenset(),
    ) -> tuple[list[ast.stmt], ast.expr]:
        """Keep `value` in a temp, unless it is `safe` and not a name in `rebound` (the names
        that code evaluated before its use may bind: walruses, targets, captures)."""
        if self.safe(value) and not (isinstance(value, ast.Name) and value.id in rebound):
            return pre, value
        t = self.temp(what, node)
        return [*pre, ast.Assign([_name(t, True)], value)], _name(t)

    def safe(self, e: ast.expr) -> bool:
        """May be evaluated after a later await instead of before it.

        Constants, and names: an awaited call cannot rebind our locals, and we assume it does
        not rebind module globals (documented). Attribute and item reads are hoisted: the
        awaited call may well change them.
        """
        return isinstance(e, (ast.Constant, ast.Name))

    def lift_seq(
        self, exprs: Sequence[ast.expr], *, lookups: Iterable[int] = (), all_before: bool = False
    ) -> tuple[list[ast.stmt], list[ast.expr]]:
        """Lift a left-to-right sequence: everything before the last point runs first
        (with `all_before`, everything, as a point follows).

        At the indices in `lookups` (the function of a call, a decorator, a base class), a
        name or attribute chain is looked up after the awaits rather than hoisted, so that
        functions, bound methods and classes (``print``, ``log.append``) are not held live
        across a checkpoint, where they cannot be saved. Documented: such lookups happen
        after the await.
        """
        last = max((i for i, e in enumerate(exprs) if _has_call_await(e)), default=-1)
        if all_before:  # a point follows the whole sequence
            last = len(exprs)
        lookups = frozenset(lookups)
        pre: list[ast.stmt] = []
        out: list[ast.expr] = []
        for i, e in enumerate(exprs):
            if i > last:
                out.append(e)
                continue
            starred = isinstance(e, ast.Starred)
            more, new = self.lift(e.value if isinstance(e, ast.Starred) else e)
            pre += more
            if starred and i < last:  # unpacked before later arguments are evaluated
                new = ast.Tuple([ast.Starred(new, ast.Load())], ast.Load())
            if i < last:
                rebound = _bound_names(exprs[i + 1 :])
                if not (i in lookups and _is_lookup(new) and _lookup_root(new) not in rebound):
                    pre, new = self.hoist(pre, new, "a value computed before an await", e, rebound)
            out.append(ast.Starred(new, ast.Load()) if starred else new)
        return pre, out

    def lift(self, e: ast.expr) -> tuple[list[ast.stmt], ast.expr]:
        if not _has_call_await(e):
            return [], e
        if isinstance(e, ast.Await) and isinstance(e.value, ast.Call):
            t = self.temp("the result of an awaited call", e)
            return self.call_point(e.value, t), _name(t)
        if isinstance(e, ast.BoolOp):
            return self.bool_op(e)
        if isinstance(e, ast.IfExp):
            pre, test = self.lift(e.test)
            t = self.temp("the value of a conditional expression", e)
            return [*pre, ast.If(test, self.lift_into(e.body, t), self.lift_into(e.orelse, t))], (
                _name(t)
            )
        if isinstance(e, ast.NamedExpr):
            pre, value = self.lift(e.value)
            return [*pre, ast.Assign([_name(e.target.id, True)], value)], _name(e.target.id)
        if isinstance(e, ast.Compare) and len(e.ops) > 1:
            return self.chained_compare(e)
        if isinstance(e, ast.Lambda):  # only its defaults are evaluated here
            pre, values = self.lift_seq(_defaults(e.args))
            return pre, ast.Lambda(_with_defaults(e.args, values), e.body)
        if isinstance(e, _COMPREHENSIONS) and _lowerable(e):
            return self.comprehension(e)
        if isinstance(e, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            gen = e.generators[0]
            pre, it = self.lift(gen.iter)
            new = copy.copy(e)
            new.generators = [
                ast.comprehension(gen.target, it, gen.ifs, gen.is_async),
                *e.generators[1:],
            ]
            return pre, new
        return self.generic(e)

    def comprehension(
        self, e: ast.ListComp | ast.SetComp | ast.DictComp
    ) -> tuple[list[ast.stmt], ast.expr]:
        """A comprehension awaiting calls becomes a loop building its value in a temp::

            {k: v for x in xs if c for y in f(x)}  ->  t = {}
                                                       for x' in xs:
                                                           if c:
                                                               for y' in f(x'):
                                                                   key = k
                                                                   t[key] = v

        so its awaits become points of ordinary (resumable) loops and the partly built value
        is saved as a live local. Python's order is kept: the first iterable once, before
        anything else; per item the target, the conditions in order (each only if the ones
        before held), the inner clauses likewise, then the element (the key before the
        value). The comprehension's scope is kept by renaming its variables to fresh hidden
        locals, so the function's own variables of those names are untouched; a walrus still
        binds in the function, as in Python. `_lowerable` says which comprehensions qualify.
        """
        e = copy.deepcopy(e)  # renamed in place
        first = e.generators[0]
        keys = [f"comp_{_key(g.target)}" for g in e.generators]
        pre, iter_ = self.lift(first.iter)  # evaluated in the enclosing scope
        renames = {
            n: self.temp(f"the variable {n!r} of a comprehension", e, f"comp_{n}_")
            for n in sorted(_comprehension_vars(e))
        }
        for part in _comprehension_parts(e):
            for node in ast.walk(part):
                if isinstance(node, ast.Name) and node.id in renames:
                    node.id = renames[node.id]
        empty: ast.expr
        if isinstance(e, ast.ListComp):
            kind, empty = "list", ast.List([], ast.Load())
        elif isinstance(e, ast.SetComp):  # ``{*()}``: no lookup of a name `set` may rebind
            kind, empty = "set", ast.Set([ast.Starred(ast.Tuple([], ast.Load()), ast.Load())])
        else:
            kind, empty = "dict", ast.Dict([], [])
        result = self.temp(f"the {kind} a comprehension builds", e, "comp")
        innermost: list[ast.stmt]
        if isinstance(e, ast.DictComp):
            key = e.key
            innermost = []
            if not (
                isinstance(key, ast.Constant)
                or (isinstance(key, ast.Name) and key.id in renames.values())
            ):
                # Python evaluates the key before the value; ``t[k] = v`` evaluates `v` first.
                t = self.temp("the key of a dict comprehension", key, "key")
                innermost.append(_at(ast.Assign([_name(t, True)], key), key))
                key = _name(t)
            store = ast.Subscript(_name(result), key, ast.Store())
            innermost.append(_at(ast.Assign([store], e.value), e.value))
        else:
            add = "append" if isinstance(e, ast.ListComp) else "add"
            method = ast.Attribute(_name(result), add, ast.Load())
            innermost = [_at(ast.Expr(ast.Call(method, [e.elt], [])), e.elt)]
        body = innermost
        for g, it_key in reversed(list(zip(e.generators, keys, strict=True))):
            for cond in reversed(g.ifs):
                body = [_at(ast.If(cond, body, []), cond)]
            loop = ast.For(g.target, iter_ if g is first else g.iter, body, [], None)
            body = [_at(loop, g.target)]
            self.comprehension_loops[id(loop)] = it_key
        init = _at(ast.Assign([_name(result, True)], empty), e)
        return [*pre, *self.block([init, *body])], _name(result)

    def bool_op(self, e: ast.BoolOp) -> tuple[list[ast.stmt], ast.expr]:
        t = self.temp("the value of a boolean expression", e)
        stmts = self.lift_into(e.values[0], t)
        for value in e.values[1:]:
            go_on: ast.expr = _name(t)
            if isinstance(e.op, ast.Or):
                go_on = ast.UnaryOp(ast.Not(), go_on)
            stmts.append(ast.If(go_on, self.lift_into(value, t), []))
        return stmts, _name(t)

    def chained_compare(self, e: ast.Compare) -> tuple[list[ast.stmt], ast.expr]:
        """``a < b < c`` is ``a < b and b < c`` with `b` evaluated once, short-circuiting."""
        t = self.temp("the value of a chained comparison", e)
        pre, left = self.lift(e.left)
        pre, left = self.hoist(pre, left, "an operand of a chained comparison", e)
        stmts = target = list(pre)
        for i, (op, right) in enumerate(zip(e.ops, e.comparators, strict=True)):
            more, value = self.lift(right)
            if i < len(e.ops) - 1:
                more, value = self.hoist(more, value, "an operand of a chained comparison", e)
            step = [*more, ast.Assign([_name(t, True)], ast.Compare(left, [op], [value]))]
            if i == 0:
                target.extend(step)
            else:
                nested = ast.If(_name(t), step, [])
                target.append(nested)
                target = nested.body
            left = value
        return stmts, _name(t)

    def generic(self, e: ast.expr) -> tuple[list[ast.stmt], ast.expr]:
        # Children in Python's evaluation order; keyword values follow positional arguments.
        fields = _eval_fields(e)
        exprs = [getattr_path(e, f) for f in fields]
        pre, new = self.lift_seq(exprs, lookups=[0] if isinstance(e, ast.Call) else [])
        out = copy.copy(e)
        for f, value in zip(fields, new, strict=True):
            setattr_path(out, f, value)
        return pre, out


def _completion(kind: str, value: ast.expr | None = None) -> ast.expr:
    return ast.Tuple([ast.Constant(kind), value or ast.Constant(None)], ast.Load())


def _subscript(name: str, index: int) -> ast.expr:
    return ast.Subscript(_name(name), ast.Constant(index), ast.Load())


_EXIT: dict[str, Callable[[str], ast.stmt]] = {
    "return": lambda cr: ast.Return(_subscript(cr, 1)),
    "break": lambda cr: ast.Break(),
    "continue": lambda cr: ast.Continue(),
}


def _record_exits(body: list[ast.stmt], cr: str, kinds: set[str]) -> list[ast.stmt]:
    """Turn ``return``/``break``/``continue`` leaving `body` into a record plus ``break``."""

    class Recorder(ast.NodeTransformer):
        def __init__(self) -> None:
            self.loops = 0
            self.returns = 0  # `return`s recorded so far: counted, a set cannot tell a new one

        def record(self, node: ast.stmt, kind: str, value: ast.expr | None) -> list[ast.stmt]:
            kinds.add(kind)
            self.returns += kind == "return"
            store = ast.Assign([_name(cr, True)], _completion(kind, value))
            return [ast.copy_location(store, node), ast.copy_location(ast.Break(), node)]

        def visit_Return(self, node: ast.Return) -> list[ast.stmt]:
            return self.record(node, "return", node.value)

        def visit_Break(self, node: ast.Break) -> ast.AST | list[ast.stmt]:
            return node if self.loops else self.record(node, "break", None)

        def visit_Continue(self, node: ast.Continue) -> ast.AST | list[ast.stmt]:
            return node if self.loops else self.record(node, "continue", None)

        def loop(self, node: ast.For | ast.While | ast.AsyncFor) -> ast.AST | list[ast.stmt]:
            self.loops += 1  # break/continue in the body belong to this loop
            before = self.returns
            node.body = self.visit_list(node.body)
            self.loops -= 1
            node.orelse = self.visit_list(node.orelse)
            if self.returns != before:
                # A `return` recorded inside this loop only left this loop: keep leaving,
                # up to the loop that stands for the whole `try` part.
                pending = ast.Compare(_name(cr), [ast.IsNot()], [ast.Constant(None)])
                leave = ast.copy_location(ast.If(pending, [ast.Break()], []), node)
                return [node, leave]
            return node

        def visit_list(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
            out: list[ast.stmt] = []
            for stmt in stmts:
                new = self.visit(stmt)
                out.extend(new if isinstance(new, list) else [new])
            return out

        visit_For = visit_While = visit_AsyncFor = loop

        def skip(self, node: ast.AST) -> ast.AST:
            return node

        visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = skip

    return Recorder().visit_list(body)


def _eval_fields(e: ast.expr) -> list[tuple[str, int | None, str | None]]:
    """(field, index, subfield) paths of `e`'s sub-expressions in evaluation order."""
    out: list[tuple[str, int | None, str | None]] = []
    order = {
        ast.Call: ("func", "args", "keywords"),
        ast.Dict: ("kv",),
    }.get(type(e))
    if order is None:
        order = tuple(e._fields)
    for name in order:
        if name == "kv":
            assert isinstance(e, ast.Dict)
            for i in range(len(e.keys)):
                if e.keys[i] is not None:
                    out.append(("keys", i, None))
                out.append(("values", i, None))
            continue
        value = getattr(e, name, None)
        if isinstance(value, ast.expr):
            out.append((name, None, None))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, ast.expr):
                    out.append((name, i, None))
                elif isinstance(item, ast.keyword):
                    out.append((name, i, "value"))
    return out


def getattr_path(e: ast.AST, path: tuple[str, int | None, str | None]) -> ast.expr:
    name, index, sub = path
    value = getattr(e, name)
    if index is not None:
        value = value[index]
    if sub is not None:
        value = getattr(value, sub)
    assert isinstance(value, ast.expr)
    return value


def setattr_path(e: ast.AST, path: tuple[str, int | None, str | None], value: ast.expr) -> None:
    name, index, sub = path
    if index is None:
        setattr(e, name, value)
        return
    items = list(getattr(e, name))
    if sub is not None:
        items[index] = copy.copy(items[index])
        setattr(items[index], sub, value)
    else:
        items[index] = value
    setattr(e, name, items)


def _flag_breaks(body: list[ast.stmt], flag: str) -> list[ast.stmt]:
    """Set `flag` before every ``break`` of this loop (not of nested loops or functions)."""

    class Flagger(ast.NodeTransformer):
        def visit_Break(self, node: ast.Break) -> list[ast.stmt]:
            set_flag = ast.copy_location(ast.Assign([_name(flag, True)], ast.Constant(True)), node)
            return [set_flag, node]

        def _skip(self, node: ast.AST) -> ast.AST:
            return node

        visit_For = visit_While = visit_AsyncFor = _skip
        visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _skip

    flagger = Flagger()
    out: list[ast.stmt] = []
    for s in body:
        new = flagger.visit(s)  # a ``break`` directly in `body` becomes two statements
        out.extend(new if isinstance(new, list) else [new])
    return out
