"""Property-based differential tests: random async function bodies, run durably and plainly.

A hypothesis strategy (`programs`) writes small random ``async def program()`` bodies:

* control flow: nested ``if``/``elif``/``else``; ``while`` loops bounded by their own counter
  (with ``else``, ``while True`` + ``break``, side-effecting conditions); ``for`` over ranges,
  lists, tuples, strings, dicts, ``dict.items()``, the live `items` list and `d` dict, and
  ranges computed by an awaited call, binding fresh names, outer variables, reused loop names
  or ``d[0]``; ``try``/``except``/``else``/``finally`` (named, tuple, broad and bare
  handlers); ``match`` (value patterns with guards, some awaiting, sequence patterns with
  captures, awaited subjects); ``with``/``async with`` without pauses; ``break``/``continue``/``return`` (also
  in ``finally`` before Python 3.14); ``raise`` of ValueError/KeyError with small args,
  ``assert``, bare re-raises, re-raising a kept exception;
* points: pauses (``raise PauseForEventException(...)``, static or dynamic names, some
  computed by an awaited call) and nested durable calls to the fixed children of
  ``tests/regressions/children.py`` (pausing, raising, recursing, looping, pausing in a
  ``finally``, mutating the caller's list or dict), in statements, conditions, call
  arguments, f-strings, boolean and conditional expressions, displays, list/set/dict
  comprehensions (elements, conditions, inner iterables, keys, walruses, variables shadowing
  locals), unpacking, augmented
  assignments, assignment and ``del`` targets, annotated assignments, ``assert`` messages,
  ``match`` guards; awaits of a plain coroutine that calls a durable child inline;
* exits and exceptions through a ``finally`` holding a point: ``try`` parts with several
  ``return``s, before, inside (nested) loops and after them, with ``break``/``continue`` of
  those loops and of a loop around the ``try``; ``sys.exc_info()`` and exception chains
  (``__context__``, ``__cause__``, ``from None``) observed in handlers and ``finally`` blocks;
* ``for`` loops over `d`, its views or a set whose size the body changes before or after a
  point (``RuntimeError`` at the next step, or a ``break`` first);
* side effects and state: `log` and `check` (a logged condition), assignments, augmented
  assignments, walruses, appends through an alias, rebinding, dict updates, `del`, a maybe-bound
  variable `t`, values of many types (big ints, floats, bytes, sets, odd strings, shared lists).

Programs stay small: at most 3 levels of nesting and about 12 statements.

Each program is written to its own file and imported under a unique module name (durable needs
the source and finds modules through sys.modules), then compared by
``tests/regressions/harness.py``: the durable run, under a drawn `Plan` (memory or disk store,
or a minimal user backend without an inbox; a fresh or a reused backend per call, re-calls without the event, events published early,
the module re-imported before each call, another instance interleaved), must match the plain
run in outcome, log and events, and the finished instance must return its saved outcome
without running anything. See that module for the oracle.

A failure prints the program as a module ready to keep: shrink it further by hand if needed and
save it as ``tests/regressions/case_<name>.py`` with ``BUG = "<reason>"`` (see
``tests/regressions/__init__.py``); ``tests/regressions/test_regressions.py`` runs it. Known
open bugs are kept out of the generator (comments name their regression case), so that this
test stays green while their strict xfails track them.

Two tiers, derandomized and without a database, so runs are reproducible: the default run
checks `EXAMPLES` programs per anyio backend; the exhaustive tier (``pytest -m exhaustive
--exhaustive``, run by CI) checks `EXHAUSTIVE_EXAMPLES` other programs per backend, 1000 unless
``DURABLE_PROPERTY_EXHAUSTIVE_EXAMPLES`` says otherwise. To hunt for bugs, set
``DURABLE_PROPERTY_EXAMPLES=5000`` (both tiers then check that many, with random seeds), and
``DURABLE_PROPERTY_STATEMENTS`` / ``DURABLE_PROPERTY_DEPTH`` for larger programs.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from regressions import children
from regressions.harness import Plan, compare, load_module, subject_of

EXAMPLES = 100  # per anyio backend, in the default run
EXHAUSTIVE_EXAMPLES = int(os.environ.get("DURABLE_PROPERTY_EXHAUSTIVE_EXAMPLES", "1000"))
HUNT = int(os.environ.get("DURABLE_PROPERTY_EXAMPLES", "0"))

MAX_DEPTH = int(os.environ.get("DURABLE_PROPERTY_DEPTH", "3"))  # nesting of compound statements
MAX_STATEMENTS = int(os.environ.get("DURABLE_PROPERTY_STATEMENTS", "12"))
INT_VARS = ("a", "b", "c")
LOOP_VARS = ("i", "j", "k")  # by loop nesting; ``for i, iv in d.items()`` binds iv too
CHILDREN_1 = children.DURABLE_CHILDREN  # children called with one int
EXITS_IN_FINALLY = sys.version_info < (3, 14)  # PEP 765 warns about them from 3.14
# Every program starts with HEADER and ends with FINAL_RETURN. `t` is never set up front: it is
# bound, deleted and read anywhere, so unbound-variable semantics are compared too.
HEADER = (
    "a, b, c = 0, 1, 2",
    's = ""',
    "items = []",
    "alias = items",
    "d = {}",
    "err = z = None",
)
FINAL_RETURN = "return (a, b, c, s, items, alias, alias is items, d, repr(err), z)"


# -- the program generator -------------------------------------------------------------------


@dataclass
class _Ctx:
    """Where the statement being drawn sits."""

    budget: list[int]  # statements left, shared by the whole program
    labels: itertools.count[int]  # unique numbers for labels, events, counters, handler names
    depth: int = 0
    loops: int = 0  # enclosing loops (picks the loop variable's name)
    scope: tuple[tuple[str, str], ...] = ()  # extra (name, "int" | "str" | "exc") bound here
    in_loop: bool = False  # break/continue allowed (not across a finally)
    in_finally: bool = False  # no return (nor break/continue) in a finally
    handling: bool = False  # a bare ``raise`` has an exception to re-raise
    iterating_d: bool = False  # in a loop over `d` or a view of it: `d` keeps its keys

    def inner(self, **changes: object) -> _Ctx:
        new = _Ctx(**{**self.__dict__, **changes})  # type: ignore[arg-type]
        new.depth = self.depth + 1
        return new

    def label(self) -> int:
        return next(self.labels)

    def names(self, kind: str) -> list[str]:
        return [n for n, k in self.scope if k == kind]


Draw = Callable[..., object]


def _pick(draw: Draw, options: Sequence[str]) -> str:
    return str(draw(st.sampled_from(options)))


def _indent(lines: list[str], times: int = 1) -> list[str]:
    return ["    " * times + line for line in lines]


def _int_atom(draw: Draw, ctx: _Ctx) -> str:
    if draw(st.booleans()):
        return str(draw(st.integers(0, 3)))
    return _pick(draw, [*INT_VARS, *ctx.names("int")])


def _int_expr(draw: Draw, ctx: _Ctx) -> str:
    form = _pick(draw, ["{x}", "{x} + {y}", "{x} - {y}", "{x} * 2", "{x} % 3", "{x} + len(items)"])
    return form.format(x=_int_atom(draw, ctx), y=_int_atom(draw, ctx))


def _cond(draw: Draw, ctx: _Ctx) -> str:
    """A condition; some have side effects (`check`, a walrus) or await a child."""
    forms = [
        "{x} > {k}",
        "{x} % 2 == 0",
        "{x} == {y}",
        "len(items) > {k}",
        "s.endswith('x')",
        "{x} % 3 in d",
        "({v} := {v} + 1) > {k}",
        "await {child}({x}) > {k}",
        "{k} < await {child}({x}) < 20",
        "not await {child}({x})",
        "({v} := await {child}({x})) > {k}",
    ]
    if ctx.names("str"):
        forms.append("{s} == 'x'")
    form = _pick(draw, forms)
    text = form.format(
        x=_int_atom(draw, ctx),
        y=_int_atom(draw, ctx),
        k=draw(st.integers(0, 3)),
        v=_pick(draw, INT_VARS),
        child=_pick(draw, CHILDREN_1),
        s=_pick(draw, ctx.names("str")) if "{s}" in form else "",
    )
    if draw(st.integers(0, 2)) == 0:
        return f'check("L{ctx.label()}", {text})'
    return text


def _loggable(draw: Draw, ctx: _Ctx) -> str:
    names = [*INT_VARS, "s", "items", "alias", "d", "repr(err)", "z", "repr(t)"]
    return _pick(draw, [*names, *(n for n, kind in ctx.scope if kind != "exc")])


def _pause(draw: Draw, ctx: _Ctx) -> list[str]:
    n = ctx.label()
    if draw(st.booleans()):
        return [f'raise PauseForEventException("p{n}")']
    dynamic = _pick(draw, ["a", *ctx.names("int"), *ctx.names("str"), "s"])
    return [f'raise PauseForEventException(f"p{n}-{{{dynamic}}}")']


def _call(draw: Draw, ctx: _Ctx) -> list[str]:
    """A nested durable call (or an await of the plain coroutine), in one of many positions."""
    child = _pick(draw, CHILDREN_1)
    x, v, n = _int_atom(draw, ctx), _pick(draw, INT_VARS), ctx.label()
    w = _pick(draw, INT_VARS)
    comprehensions = [  # lowered into resumable loops
        f"z = [await {child}(q) for q in range({x} % 3) if check('L{n}', q) != 1]",
        f"z = [q for q in range({x} % 3) if await {child}(q) % 2 == 0]",
        f"z = {{q: await {child}(q + {x}) for q in range(2)}}",
        f"z = {{await {child}(q) % 5 for q in [{x}, 1]}}",
        f"z = [(q, r) for q in range(2) for r in range(await {child}(q) % 3)]",
        f"{v} = sum([await {child}({w}) for {w} in range({x} % 3)])",  # shadows a local
        f"z = [({v} := await {child}(q)) for q in range({x} % 3)]",
    ]
    call = f"await {child}({x})"
    forms: list[Callable[[], str]] = [
        lambda: f"{v} = {call}",
        lambda: f"{v} += {call}",
        lambda: f'log("L{n}", {call})',
        lambda: f"{v} = {_int_atom(draw, ctx)} + {call}",
        lambda: f"await child_append({_pick(draw, ['items', 'alias'])}, {x})",
        lambda: f"{v} = await child_append(items, {x})",
        lambda: f"{v} = await plain_helper({x})",
        lambda: f"{v} = await {child}(x={x})",
        lambda: f'log(f"L{n}-{{{call}}}")',
        lambda: f"{v} = {v} or {call}",
        lambda: f"{v} = {v} and {call}",
        lambda: f"{v} = {call} if {_cond(draw, ctx)} else {_int_atom(draw, ctx)}",
        lambda: f"{v}, {_pick(draw, INT_VARS)} = {_int_atom(draw, ctx)}, {call}",
        lambda: f"z = [await child_plain(q) for q in range({x} % 3)]",
        lambda: _pick(draw, comprehensions),
        lambda: f'raise PauseForEventException(f"p{n}-{{{call}}}")',
        lambda: call,
        lambda: f"await child_append(items, x={x})",
        lambda: f"z = [*items, {call}, {v}]",
        lambda: f"z = {{{x}: {call}, 'k': {_int_atom(draw, ctx)}}}",
        lambda: f"z = items[{call} % 3:]",
        lambda: f"{v}: int = {call}",
        lambda: f"{v}, *z = [{_int_atom(draw, ctx)}, {call}, {_int_atom(draw, ctx)}]",
        lambda: f"{v} = await {child}(y={x})",  # TypeError, with Python's own message
    ]
    if not ctx.iterating_d:
        forms += [
            lambda: f"d[{x} % 3] = {call}",
            lambda: f"d[{x} % 3] += {call}",
            lambda: f"{v} = await child_update(d, {x})",
            lambda: f"d[{call} % 3] = {_int_atom(draw, ctx)}",
            lambda: f"d[{x} % 3], d[{call} % 3] = {call}, {_int_atom(draw, ctx)}",
            lambda: f"d[{call} % 3] += {_int_atom(draw, ctx)}",
            lambda: f"d[{x} % 3]: int = {call}",
            lambda: f"del d[{call} % 3]",
        ]
    return [forms[draw(st.integers(0, len(forms) - 1))]()]


_WEIRD_STRS = ("'x'", "'é'", "'\\u2028'", "'\\ud800'", "'\\x00'", "'😀'")
_VALUES = (
    "(1, 'x')",
    "{1, 2}",
    "frozenset({3})",
    "b'\\x00\\xff'",
    "{(1, 2): [3], 4: None}",
    "2 ** 70",
    "-(2 ** 65) + a",
    "a / 4",
    "-0.0",
    "True",
    "[items, items]",
    "(alias, d)",
    "None",
)


def _simple(draw: Draw, ctx: _Ctx) -> list[str]:
    """A statement with no point: side effects on the variables and the log."""
    v, n = _pick(draw, INT_VARS), ctx.label()
    x = _int_atom(draw, ctx)
    forms: list[Callable[[], str]] = [
        lambda: (
            ", ".join(
                [f'log("L{n}"', *(_loggable(draw, ctx) for _ in range(draw(st.integers(0, 2))))]
            )
            + ")"
        ),
        lambda: f"{v} = {_int_expr(draw, ctx)}",
        lambda: f"{v} += {_int_expr(draw, ctx)}",
        lambda: f"{v} -= {_int_expr(draw, ctx)}",
        lambda: f"{v} *= 2",
        lambda: f"{_pick(draw, ['items', 'alias'])}.append({_int_expr(draw, ctx)})",
        lambda: f"s += {_pick(draw, [*_WEIRD_STRS, *ctx.names('str')])}",
        lambda: f"t = {_int_expr(draw, ctx)}",
        lambda: "del t",
        lambda: f'log("L{n}", repr(t))',  # `t` may be unbound, an int or an exception
        lambda: f"z = {_pick(draw, _VALUES)}",
        lambda: f"{v}, {_pick(draw, INT_VARS)} = {_int_atom(draw, ctx)}, {_int_atom(draw, ctx)}",
        lambda: f"{v} = {_pick(draw, INT_VARS)} = {_int_expr(draw, ctx)}",
        lambda: "items = items + [len(items)]",
        lambda: "items = [q + 1 for q in items]",
        lambda: f"{v} *= 10 ** 10",
    ]
    if not ctx.iterating_d:
        forms += [
            lambda: f"d[{x} % 3] = {_int_expr(draw, ctx)}",
            lambda: f"d[{x} % 3] = d.get({x} % 3, 0) + 1",
            lambda: f"d.pop({x} % 3, None)",
        ]
    return [forms[draw(st.integers(0, len(forms) - 1))]()]


def _if(draw: Draw, ctx: _Ctx) -> list[str]:
    lines = [f"if {_cond(draw, ctx)}:", *_indent(_block(draw, ctx.inner()))]
    for _ in range(draw(st.integers(0, 2))):
        lines += [f"elif {_cond(draw, ctx)}:", *_indent(_block(draw, ctx.inner()))]
    if draw(st.booleans()):
        lines += ["else:", *_indent(_block(draw, ctx.inner()))]
    return lines


def _while(draw: Draw, ctx: _Ctx) -> list[str]:
    """A loop bounded by its own counter, whatever its body does."""
    w, bound = f"w{ctx.label()}", draw(st.integers(0, 3))
    body_ctx = ctx.inner(in_loop=True, loops=ctx.loops + 1)
    form = draw(st.integers(0, 2))
    if form == 0:
        head = [f"while {w} < {bound}:", f"    {w} += 1", "    tick()"]
    elif form == 1:
        cond = _cond(draw, ctx)
        head = [f"while {w} < {bound} and {cond}:", f"    {w} += 1", "    tick()"]
    else:
        head = [
            "while True:",
            f"    {w} += 1",
            "    tick()",
            f"    if {w} > {bound}:",
            "        break",
        ]
    lines = [f"{w} = 0", *head, *_indent(_block(draw, body_ctx))]
    if draw(st.booleans()):
        lines += ["else:", *_indent(_block(draw, ctx.inner()))]
    return lines


# Iterables that may be empty come first; the rest always yield at least one item.
_INT_ITERABLES = (
    "range({n})",
    "[1, 2, 3][:{n}]",
    "range(1, {n})",
    "list(items)",
    "items",  # the live list: the body may append to it (bounded by a length check)
    "d",  # the live dict: the body may change it (plain Python may raise RuntimeError)
    "sorted(d)",
    "range(await {child}({x}) % 3)",
    "(3, 1, 2)",
    "{{1: 'x', 2: 'y'}}",
    "range(await {child}({x}) % 3 + 1)",
)
_STR_ITERABLES = ("s", "'xy'", "('x', 'y', 'z')", "{{'x': 1, 'y': 2}}", "sorted({{'y', 'x'}})")
_ITEMS_ITERABLES = ("d.items()", "{{'x': 1, 'y': 2}}.items()")


def _for(draw: Draw, ctx: _Ctx) -> list[str]:
    # Mostly one name per nesting level; sometimes an inner loop reuses an outer loop's name,
    # or (over ints) the loop binds an outer variable or an item of `d`.
    var = LOOP_VARS[min(ctx.loops, len(LOOP_VARS) - 1)] if draw(st.integers(0, 3)) else "i"
    kind = _pick(draw, ["int", "str", "items"])
    if kind == "int":
        target = draw(st.integers(0, 5))
        if target == 0:
            var = _pick(draw, INT_VARS)
        elif target == 1 and not ctx.iterating_d:
            var = "d[0]"
    options = {"int": _INT_ITERABLES, "str": _STR_ITERABLES, "items": _ITEMS_ITERABLES}[kind]
    if var == "d[0]":
        options = tuple(o for o in options if o not in ("d", "sorted(d)"))
    fill = {
        "n": draw(st.integers(0, 3)),
        "child": _pick(draw, CHILDREN_1),
        "x": _int_atom(draw, ctx),
    }
    iterable = _pick(draw, options).format(**fill)
    if kind == "items":
        key = "int" if iterable.startswith("d.") else "str"
        head, bound = f"for {var}, {var}v in {iterable}:", ((var, key), (f"{var}v", "int"))
    else:
        head = f"for {var} in {iterable}:"
        bound = () if var == "d[0]" else ((var, kind),)
    # Documented (README): a loop over a dict iterates over a snapshot of it, so changing its
    # keys in the body is not compared (plain Python may raise RuntimeError there).
    over_d = iterable in ("d", "d.items()")
    body_ctx = ctx.inner(
        in_loop=True,
        loops=ctx.loops + 1,
        scope=ctx.scope + bound,
        iterating_d=ctx.iterating_d or over_d,
    )
    guard = ["    if len(items) > 5:", "        break"] if iterable == "items" else []
    lines = [head, "    tick()", *guard, *_indent(_block(draw, body_ctx))]
    if draw(st.booleans()):
        lines += ["else:", *_indent(_block(draw, ctx.inner()))]
    return lines


_HANDLERS = (
    "except ValueError as {e}:",
    "except KeyError as {e}:",
    "except (KeyError, ValueError) as {e}:",
    "except Exception as {e}:",
    "except ValueError:",
    "except LookupError:",
    "except BaseException as {e}:",
    "except:",
)


def _try(draw: Draw, ctx: _Ctx) -> list[str]:
    handlers = draw(st.lists(st.sampled_from(_HANDLERS), max_size=2, unique=True))
    if "except:" in handlers:  # a bare except must come last
        handlers = [h for h in handlers if h != "except:"] + ["except:"]
    final = not handlers or draw(st.booleans())
    lines = ["try:", *_indent(_block(draw, ctx.inner()))]
    for handler in handlers:
        # Shared names: nested handlers unbind them; `t` may be bound before.
        e = _pick(draw, ["e", "f", f"e{ctx.label()}", "t"])
        scope = (*ctx.scope, (e, "exc")) if "{e}" in handler else ctx.scope
        lines.append(handler.format(e=e))
        handler_ctx = ctx.inner(scope=scope, handling=True)
        lines += _indent(_observed(draw, handler_ctx, _block(draw, handler_ctx)))
    if handlers and draw(st.booleans()):
        lines += ["else:", *_indent(_block(draw, ctx.inner()))]
    if final:
        # A bare `raise` in a finally re-raises the exception passing through, or the one
        # being handled, or fails. break/continue/return there: SyntaxWarning from 3.14.
        final_ctx = ctx.inner(
            in_loop=ctx.in_loop and EXITS_IN_FINALLY,
            in_finally=not EXITS_IN_FINALLY,
            handling=True,
        )
        lines += ["finally:", *_indent(_observed(draw, final_ctx, _block(draw, final_ctx)))]
    return lines


def _match(draw: Draw, ctx: _Ctx) -> list[str]:
    if draw(st.integers(0, 2)) == 0:
        return _match_items(draw, ctx)
    subject = _int_atom(draw, ctx)
    if draw(st.integers(0, 3)) == 0:
        subject = f"await {_pick(draw, CHILDREN_1)}({subject})"
    lines = [f"match {subject} % 3:"]
    lines += ["    case 0:", *_indent(_block(draw, ctx.inner()), 2)]
    guard = _cond(draw, ctx)
    lines += [f"    case 1 | 2 if {guard}:", *_indent(_block(draw, ctx.inner()), 2)]
    if draw(st.booleans()):
        lines += ["    case _:", *_indent(_block(draw, ctx.inner()), 2)]
    return lines


def _match_items(draw: Draw, ctx: _Ctx) -> list[str]:
    """Sequence patterns with captures: a fresh name, or `t` (bound only if the case matches)."""
    capture = _pick(draw, [f"q{ctx.label()}", "t"])
    lines = ["match items:", "    case []:", *_indent(_block(draw, ctx.inner()), 2)]
    case_ctx = ctx.inner(scope=(*ctx.scope, (capture, "int")))
    lines += [f"    case [{capture}, *_]:", *_indent(_block(draw, case_ctx), 2)]
    return lines


def _guarded(draw: Draw, ctx: _Ctx, stmt: str) -> list[str]:
    """`stmt` (an exit), mostly under an ``if`` so that the code after it is not dead."""
    if draw(st.integers(0, 2)):
        return [f"if {_cond(draw, ctx)}:", f"    {stmt}"]
    return [stmt]


def _raise(draw: Draw, ctx: _Ctx) -> list[str]:
    n = ctx.label()
    forms: list[Callable[[], str]] = [
        lambda: f'raise ValueError("r{n}", {_int_atom(draw, ctx)})',
        lambda: f'raise KeyError("r{n}")',
        lambda: f'assert {_cond(draw, ctx)}, "r{n}"',
        lambda: f"assert {_cond(draw, ctx)}, await {_pick(draw, CHILDREN_1)}({n})",
        lambda: (
            f'raise ValueError("r{n}", await {_pick(draw, CHILDREN_1)}({_int_atom(draw, ctx)}))'
        ),
        lambda: "raise err",  # the exception kept in `err`, maybe across pauses (or TypeError)
    ]
    if ctx.handling:
        forms.append(lambda: "raise")
    return _guarded(draw, ctx, forms[draw(st.integers(0, len(forms) - 1))]())


def _exit(draw: Draw, ctx: _Ctx) -> list[str]:
    forms: list[Callable[[], str]] = []
    if not ctx.in_finally:
        forms += [
            lambda: FINAL_RETURN,
            lambda: f"return {_int_expr(draw, ctx)}",
            lambda: f"return await {_pick(draw, CHILDREN_1)}({_int_atom(draw, ctx)})",
        ]
    if ctx.in_loop:
        forms += [lambda: "break", lambda: "continue"]
    if not forms:
        return ["pass"]
    return _guarded(draw, ctx, forms[draw(st.integers(0, len(forms) - 1))]())


def _exc(draw: Draw, ctx: _Ctx) -> list[str]:
    """Use the exception being handled: log it, or keep it in `err` (saved across pauses)."""
    e = _pick(draw, ctx.names("exc"))
    forms = [
        f'log("L{ctx.label()}", type({e}).__name__, {e}.args)',
        f"err = {e}",
        f'{e} = KeyError("r{ctx.label()}")',  # a bare `raise` still re-raises the handled one
    ]
    return [_pick(draw, forms)]


def _exc_observe(draw: Draw, ctx: _Ctx) -> list[str]:
    """Observe the exception being handled: ``sys.exc_info()``, or the chain of an exception
    raised and caught here (its ``__context__`` is the one being handled; ``__cause__`` from
    ``raise ... from``). One level only: a saved exception keeps no chain of its own."""
    n = ctx.label()
    if draw(st.booleans()):
        return [f'log("L{n}", exc_now())']
    cause = _pick(draw, ["", " from None", *(f" from {e}" for e in ctx.names("exc"))])
    error = _pick(draw, ["KeyError", "ValueError"])
    return [
        "try:",
        f'    raise {error}("r{n}"){cause}',
        f"except {error} as q{n}:",
        f'    log("L{n}", chain(q{n}))',
    ]


def _observed(draw: Draw, ctx: _Ctx, block: list[str]) -> list[str]:
    """`block`, sometimes with an exception observation before or after it."""
    where = draw(st.integers(0, 3))
    if where == 0:
        return [*_exc_observe(draw, ctx), *block]
    if where == 1:
        return [*block, *_exc_observe(draw, ctx)]
    return block


def _point(draw: Draw, ctx: _Ctx) -> list[str]:
    return _pause(draw, ctx) if draw(st.booleans()) else _call(draw, ctx)


def _leave(draw: Draw, ctx: _Ctx, kinds: Sequence[str]) -> list[str]:
    """A ``return`` (with a distinct value), ``break`` or ``continue``, mostly guarded."""
    kind = _pick(draw, kinds)
    stmt = f'return ("ret{ctx.label()}", {_int_expr(draw, ctx)})' if kind == "return" else kind
    return _guarded(draw, ctx, stmt)


def _try_exits(draw: Draw, ctx: _Ctx) -> list[str]:
    """A ``try`` whose ``finally`` holds a point, its ``try`` part holding several exits: a
    ``return`` before loops, ``return``/``break``/``continue`` inside (nested) loops, after
    them, and ``break``/``continue`` of a loop around the ``try`` (through the ``finally``)."""
    inner = ctx.inner()
    outer_exits = ["break", "continue"] if ctx.in_loop else []
    body: list[str] = []
    if draw(st.booleans()):
        body += _leave(draw, inner, ["return", *outer_exits])
    n, var = ctx.label(), LOOP_VARS[min(ctx.loops, len(LOOP_VARS) - 1)]
    loop_ctx = inner.inner(in_loop=True, loops=ctx.loops + 1)
    loop = [f"for {var} in range({draw(st.integers(1, 3))}):", "    tick()"]
    loop_body: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        part = draw(st.integers(0, 3))
        if part == 0:
            loop_body += _leave(draw, loop_ctx, ["return", "break", "continue"])
        elif part == 1:
            loop_body += _simple(draw, loop_ctx)
        elif part == 2:
            loop_body += _point(draw, loop_ctx)
        else:  # a nested loop, leaving both with a return, or itself
            w = f"w{n}"
            deeper = loop_ctx.inner(loops=ctx.loops + 2)
            loop_body += [
                f"{w} = 0",
                f"while {w} < {draw(st.integers(1, 2))}:",
                f"    {w} += 1",
                "    tick()",
                *_indent(_leave(draw, deeper, ["return", "return", "break", "continue"])),
                *_indent(_simple(draw, deeper)),
            ]
    loop += _indent(loop_body)
    if draw(st.booleans()):
        loop += ["else:", *_indent(_leave(draw, inner, ["return", *outer_exits]))]
    body += loop
    if draw(st.booleans()):
        body += _simple(draw, inner)
    if draw(st.booleans()):
        body += _leave(draw, inner, ["return", *outer_exits])
    lines = ["try:", *_indent(body)]
    if draw(st.booleans()):
        lines += ["except ValueError:", *_indent(_block(draw, inner.inner(handling=True)))]
        if draw(st.booleans()):
            lines += ["else:", *_indent(_leave(draw, inner, ["return", *outer_exits]))]
    final_ctx = inner.inner(handling=True, in_loop=ctx.in_loop and EXITS_IN_FINALLY)
    final = [*_point(draw, final_ctx), *_block(draw, final_ctx)]
    lines += ["finally:", *_indent(_observed(draw, final_ctx, final))]
    return lines


def _mutating_loop(draw: Draw, ctx: _Ctx) -> list[str]:
    """A ``for`` over a dict, one of its views or a set whose size the body changes before (or
    after) a point: Python raises ``RuntimeError`` at the next step only, after the rest of
    the body ran, and never if the body breaks first. One change at most per step, so keys
    are never replaced without a size change (a documented difference)."""
    n, var = ctx.label(), LOOP_VARS[min(ctx.loops, len(LOOP_VARS) - 1)]
    kind = "set" if ctx.iterating_d else _pick(draw, ["d", "d.items()", "d.values()", "set"])
    body_ctx = ctx.inner(in_loop=True, loops=ctx.loops + 1, iterating_d=True)
    if kind == "set":
        pre = [f"st{n} = {{1, 2, 5}}"]
        head = f"for {var} in st{n}:"
        changes = [f"st{n}.add(len(st{n}) + 10)", f"st{n}.discard({var})", f"st{n}.clear()"]
        body_ctx.scope = (*body_ctx.scope, (var, "int"))
    else:
        pre = [f"d.setdefault({draw(st.integers(0, 2))}, {_int_atom(draw, ctx)})"]
        head = (
            f"for {var}, {var}v in d.items():" if kind == "d.items()" else f"for {var} in {kind}:"
        )
        changes = ["d[len(d) + 10] = 1", "d.popitem()", "d.clear()"]
        if kind == "d.items()":
            body_ctx.scope = (*body_ctx.scope, (var, "int"), (f"{var}v", "int"))
    change = [_pick(draw, changes)]
    if draw(st.booleans()):
        change = [f"if {_cond(draw, body_ctx)}:", f"    {change[0]}"]
    point = _point(draw, body_ctx)
    steps = [*change, *point] if draw(st.integers(0, 2)) else [*point, *change]
    body = ["tick()", *steps, f'log("L{n}", {var})', *_block(draw, body_ctx)]
    if draw(st.booleans()):
        body += _guarded(draw, body_ctx, "break")
    return [*pre, head, *_indent(body)]


def _with(draw: Draw, ctx: _Ctx) -> list[str]:
    """``with``/``async with`` around code without pauses (a pause there is refused by design);
    non-pausing nested durable calls inside run inline."""
    head = _pick(draw, ["with nullcontext():", "async with nullcontext():"])
    body: list[str] = []
    for _ in range(draw(st.integers(1, 2))):
        if draw(st.booleans()):
            body += _simple(draw, ctx)
        else:
            x = _int_atom(draw, ctx)
            body.append(
                f"{_pick(draw, INT_VARS)} = await {_pick(draw, ['child_plain', 'plain_helper'])}({x})"
            )
    return [head, *_indent(body)]


# Simplest first: hypothesis shrinks toward the start of the list; repeats weight a kind.
_KINDS = (
    *["simple"] * 3,
    *["pause"] * 4,
    *["call"] * 3,
    *["if"] * 2,
    *["for"] * 2,
    "while",
    *["try"] * 2,
    "raise",
    "exit",
    "match",
    *["exc"] * 2,
    "with",
    "try_exits",
    "mutating_loop",
    "observe",
)
_LEAVES: dict[str, Callable[[Draw, _Ctx], list[str]]] = {
    "simple": _simple,
    "pause": _pause,
    "call": _call,
    "raise": _raise,
    "exit": _exit,
    "exc": _exc,
    "with": _with,
    "observe": _exc_observe,
}
_COMPOUND: dict[str, Callable[[Draw, _Ctx], list[str]]] = {
    "if": _if,
    "for": _for,
    "while": _while,
    "try": _try,
    "match": _match,
    "try_exits": _try_exits,
    "mutating_loop": _mutating_loop,
}


def _stmt(draw: Draw, ctx: _Ctx) -> list[str]:
    ctx.budget[0] -= 1
    kinds = [
        k
        for k in _KINDS
        if (k not in _COMPOUND or (ctx.depth < MAX_DEPTH and ctx.budget[0] >= 1))
        and (k != "exc" or ctx.names("exc"))
        and (k != "try_exits" or not ctx.in_finally)  # its returns would leave a finally
    ]
    kind = _pick(draw, kinds)
    return (_COMPOUND.get(kind) or _LEAVES[kind])(draw, ctx)


def _block(draw: Draw, ctx: _Ctx) -> list[str]:
    """One to three statements (one plain one if the budget is spent)."""
    if ctx.budget[0] <= 0:
        return _simple(draw, ctx)
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        if ctx.budget[0] <= 0:
            break
        lines += _stmt(draw, ctx)
    return lines


@dataclass(frozen=True)
class Program:
    body: tuple[str, ...]
    source: str = field(repr=False)

    def __repr__(self) -> str:
        return "Program:\n" + self.source


@st.composite
def programs(draw: Draw) -> Program:
    ctx = _Ctx(budget=[MAX_STATEMENTS], labels=itertools.count(1))
    body: list[str] = []
    for _ in range(draw(st.integers(1, 6))):
        if ctx.budget[0] <= 0:
            break
        body += _stmt(draw, ctx)
    return Program(tuple(body), module_source(body))


def module_source(body: Sequence[str], doc: str = "A program generated by test_property.") -> str:
    """The module for `body`: imports (only what it uses), then ``async def program()``."""
    text = "\n".join(["async def program():", *_indent([*HEADER, *body, FINAL_RETURN])])
    used = set(re.findall(r"\w+", text))
    support = [n for n in ("chain", "check", "exc_now", "log", "tick") if n in used]
    others = ("child_append", "child_update", "plain_helper")
    kids = [n for n in (*CHILDREN_1, *others) if n in used]
    imports = ["from contextlib import nullcontext"] if "nullcontext" in used else []
    if "PauseForEventException" in used:
        imports.append("from durable import PauseForEventException")
    if support:
        imports.append(f"from regressions import {', '.join(support)}")
    if kids:
        imports.append(f"from regressions.children import {', '.join(kids)}")
    return "\n".join([f'"""{doc}"""', "", "# ruff: noqa", "", *imports, "", "", text, ""])


plans = st.builds(
    Plan,
    store=st.sampled_from(["memory", "memory", "disk", "minimal"]),
    fresh=st.lists(st.booleans(), min_size=1, max_size=3).map(tuple),
    recall_unpublished=st.booleans(),
    early=st.booleans(),
    reload=st.booleans(),
    interleave=st.booleans(),
)


# -- the tests -------------------------------------------------------------------------------

_modules = itertools.count(1)


@pytest.fixture(scope="module")
def program_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("programs")


def _settings(examples: int) -> settings:
    if HUNT:
        return settings(
            max_examples=HUNT,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@_settings(EXAMPLES)
@given(program=programs(), plan=plans)
async def test_durable_run_matches_plain_run(
    program: Program, plan: Plan, program_dir: Path
) -> None:
    await _check(program, plan, program_dir)


@pytest.mark.exhaustive
@_settings(EXHAUSTIVE_EXAMPLES)
@given(program=programs(), plan=plans)
async def test_durable_run_matches_plain_run_exhaustively(
    program: Program, plan: Plan, program_dir: Path
) -> None:
    """The same check on many more programs (others: the derandomized seed follows the test)."""
    await _check(program, plan, program_dir)


async def _check(program: Program, plan: Plan, program_dir: Path) -> None:
    name = f"_durable_property_{next(_modules)}"
    path = program_dir / f"{name}.py"
    path.write_text(program.source, encoding="utf-8")
    note(f"plan: {plan}")
    module = load_module(path, name)
    try:
        expected = await compare(subject_of(module), plan)
    finally:
        del sys.modules[name]
    pauses = len(expected.events)
    event(f"pauses: {pauses if pauses < 3 else '3-9' if pauses < 10 else '10+'}")
    raised = expected.outcome[1].__name__ if expected.outcome[0] == "raised" else ""
    event(f"outcome: {expected.outcome[0]} {raised}".rstrip())


def test_generator_covers_the_grammar() -> None:
    """The generator produces every construct the issue asks for (a smoke test of `programs`)."""
    seen: set[str] = set()

    @settings(max_examples=300, derandomize=True, database=None, deadline=None)
    @given(programs())
    def collect(program: Program) -> None:
        seen.add(program.source)

    collect()
    wanted = [
        "if ",
        "elif ",
        "else:",
        "while ",
        "while True:",
        "for ",
        "try:",
        "except ValueError",
        "except:",
        "except BaseException",
        "finally:",
        "break",
        "continue",
        "return ",
        "raise\n",
        "raise ValueError",
        "raise KeyError",
        "assert ",
        "match ",
        "case [",
        "with nullcontext",
        "async with",
        'PauseForEventException("p',
        'PauseForEventException(f"p',
        "await child_",
        "await plain_helper",
        "child_append(",
        "child_update(",
        "+=",
        ":=",
        "del t",
        "del d[await",
        "tick()",
        "check(",
        ".items()",
        "for d[0] in",
        "exc_now()",
        "chain(q",
        ") from ",
        "d.popitem()",
        " in st",
        ".discard(",
        'return ("ret',
    ]
    text = "\n".join(seen)
    missing = [w for w in wanted if w not in text]
    assert not missing
