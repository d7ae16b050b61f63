"""Property-based differential tests: random async function bodies, run durably and plainly.

A hypothesis strategy (`programs`) writes small random ``async def program()`` bodies: nested
``if``/``elif``/``else``, ``while`` loops bounded by a counter, ``for`` over small ranges,
lists, tuples, strings, dicts and ``dict.items()``, ``try``/``except``/``else``/``finally``,
``match``, ``break``/``continue``/``return``/``raise`` (ValueError/KeyError with small args, and
bare re-raises), pauses (``raise PauseForEventException(...)``, with static or dynamic names),
nested durable calls to the fixed children of ``tests/regressions/children.py``, awaits of a
plain coroutine, and side effects (`log`, assignments, augmented assignments, appends to a
list). Programs stay small: at most 3 levels of nesting and about 12 statements.

Each program is written to its own file and imported under a unique module name (durable needs
the source and finds modules through sys.modules), then compared by
``tests/regressions/harness.py``: the durable run, under a drawn `Plan` (memory or disk store, a
fresh or a reused DurableBackend per call, re-calls without the event, events published early),
must match the plain run in outcome, log and events. See that module for the oracle.

A failure prints the program as a module ready to keep: shrink it further by hand if needed and
save it as ``tests/regressions/case_<name>.py`` with ``BUG = "<reason>"`` (see
``tests/regressions/__init__.py``); ``tests/regressions/test_regressions.py`` runs it.

CI runs `EXAMPLES` examples per anyio backend, derandomized and without a database, so runs are
reproducible. To hunt for bugs, set ``DURABLE_PROPERTY_EXAMPLES=5000`` (random seeds then).
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from regressions import children
from regressions.harness import Plan, compare, load_module, subject_of

EXAMPLES = 260  # per anyio backend; CI runs both
HUNT = int(os.environ.get("DURABLE_PROPERTY_EXAMPLES", "0"))

MAX_DEPTH = 3  # nesting of compound statements
MAX_STATEMENTS = 12
INT_VARS = ("a", "b", "c")
LOOP_VARS = ("i", "j", "k")  # by loop nesting; ``for i, iv in d.items()`` binds iv too
FINAL_RETURN = "return (a, b, c, s, items)"
CHILDREN_1 = children.DURABLE_CHILDREN  # children called with one int


# -- the program generator -------------------------------------------------------------------


@dataclass
class _Ctx:
    """Where the statement being drawn sits."""

    budget: list[int]  # statements left, shared by the whole program
    labels: itertools.count[int]  # unique numbers for labels, events, counters, handler names
    depth: int = 0
    loops: int = 0  # enclosing loops (picks the loop variable's name)
    scope: tuple[tuple[str, str], ...] = ()  # extra (name, "int" | "str") bound here
    in_loop: bool = False  # break/continue allowed (not across a finally)
    in_finally: bool = False  # no return in a finally
    handling: bool = False  # a bare ``raise`` has an exception to re-raise

    def inner(self, **changes: object) -> _Ctx:
        new = _Ctx(**{**self.__dict__, **changes})  # type: ignore[arg-type]
        new.depth = self.depth + 1
        return new

    def label(self) -> int:
        return next(self.labels)

    def names(self, kind: str) -> list[str]:
        return [n for n, k in self.scope if k == kind]


Draw = Callable[..., object]


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _int_atom(draw: Draw, ctx: _Ctx) -> str:
    names = [*INT_VARS, *ctx.names("int")]
    if draw(st.booleans()):
        return str(draw(st.integers(0, 3)))
    return str(draw(st.sampled_from(names)))


def _int_expr(draw: Draw, ctx: _Ctx) -> str:
    form = draw(
        st.sampled_from(["{x}", "{x} + {y}", "{x} - {y}", "{x} * 2", "{x} % 3", "{x} + len(items)"])
    )
    return str(form).format(x=_int_atom(draw, ctx), y=_int_atom(draw, ctx))


def _cond(draw: Draw, ctx: _Ctx) -> str:
    forms = ["{x} > {k}", "{x} % 2 == 0", "{x} == {y}", "len(items) > {k}", "s.endswith('x')"]
    strs = ctx.names("str")
    if strs:
        forms.append("{v} == 'x'")
    form = str(draw(st.sampled_from(forms)))
    return form.format(
        x=_int_atom(draw, ctx),
        y=_int_atom(draw, ctx),
        k=draw(st.integers(0, 3)),
        v=draw(st.sampled_from(strs)) if "{v}" in form else "",
    )


def _loggable(draw: Draw, ctx: _Ctx) -> str:
    names = [*INT_VARS, "s", "items", *(n for n, _ in ctx.scope)]
    return str(draw(st.sampled_from(names)))


def _pause(draw: Draw, ctx: _Ctx) -> list[str]:
    n = ctx.label()
    dynamic = [*ctx.names("int"), *ctx.names("str"), "a"]
    if draw(st.booleans()):
        return [f'raise PauseForEventException("p{n}")']
    return [f'raise PauseForEventException(f"p{n}-{{{draw(st.sampled_from(dynamic))}}}")']


def _call(draw: Draw, ctx: _Ctx) -> list[str]:
    child = str(draw(st.sampled_from(CHILDREN_1)))
    x, v = _int_atom(draw, ctx), draw(st.sampled_from(INT_VARS))
    form = draw(st.integers(0, 6))
    if form == 0:
        return [f"{v} = await {child}({x})"]
    if form == 1:
        return [f"{v} += await {child}({x})"]
    if form == 2:
        return [f'log("L{ctx.label()}", await {child}({x}))']
    if form == 3:
        return [f"{v} = {_int_atom(draw, ctx)} + await {child}({x})"]
    if form == 4:
        return [f"await child_append(items, {x})"]
    if form == 5:
        return [f"{v} = await child_append(items, {x})"]
    return [f"{v} = await plain_helper({x})"]


def _simple(draw: Draw, ctx: _Ctx) -> list[str]:
    kind = draw(st.sampled_from(["log", "assign", "augassign", "str", "append"]))
    v = draw(st.sampled_from(INT_VARS))
    if kind == "log":
        args = [_loggable(draw, ctx) for _ in range(draw(st.integers(0, 2)))]
        return [", ".join([f'log("L{ctx.label()}"', *args]) + ")"]
    if kind == "assign":
        return [f"{v} = {_int_expr(draw, ctx)}"]
    if kind == "augassign":
        op = draw(st.sampled_from(["+=", "-=", "*="]))
        rhs = "2" if op == "*=" else _int_expr(draw, ctx)
        return [f"{v} {op} {rhs}"]
    if kind == "str":
        strs = ctx.names("str")
        rhs = draw(st.sampled_from(strs)) if strs and draw(st.booleans()) else repr("x")
        return [f"s += {rhs}"]
    return [f"items.append({_int_expr(draw, ctx)})"]


def _if(draw: Draw, ctx: _Ctx) -> list[str]:
    lines = [f"if {_cond(draw, ctx)}:", *_indent(_block(draw, ctx.inner()))]
    for _ in range(draw(st.integers(0, 2))):
        lines += [f"elif {_cond(draw, ctx)}:", *_indent(_block(draw, ctx.inner()))]
    if draw(st.booleans()):
        lines += ["else:", *_indent(_block(draw, ctx.inner()))]
    return lines


def _while(draw: Draw, ctx: _Ctx) -> list[str]:
    w, bound = f"w{ctx.label()}", draw(st.integers(0, 3))
    body_ctx = ctx.inner(in_loop=True, loops=ctx.loops + 1)
    if draw(st.booleans()):
        head = [f"while {w} < {bound}:", f"    {w} += 1", "    tick()"]
    else:
        head = ["while True:", f"    {w} += 1", "    tick()", f"    if {w} > {bound}:", "        break"]
    lines = [f"{w} = 0", *head, *_indent(_block(draw, body_ctx))]
    if draw(st.booleans()):
        lines += ["else:", *_indent(_block(draw, ctx.inner()))]
    return lines


_INT_ITERABLES = ("range({n})", "[1, 2, 3][:{n}]", "(3, 1, 2)", "range(1, {n})", "{{1: 'x', 2: 'y'}}")
_STR_ITERABLES = ("'xy'", "('x', 'y', 'z')", "{{'x': 1, 'y': 2}}", "sorted({{'y', 'x'}})")


def _for(draw: Draw, ctx: _Ctx) -> list[str]:
    var = LOOP_VARS[min(ctx.loops, len(LOOP_VARS) - 1)]
    kind = draw(st.sampled_from(["int", "str", "items", "list"]))
    n = draw(st.integers(0, 3))
    if kind == "int":
        head = f"for {var} in {str(draw(st.sampled_from(_INT_ITERABLES))).format(n=n)}:"
        bound: tuple[tuple[str, str], ...] = ((var, "int"),)
    elif kind == "str":
        head = f"for {var} in {str(draw(st.sampled_from(_STR_ITERABLES))).format(n=n)}:"
        bound = ((var, "str"),)
    elif kind == "items":
        head = f"for {var}, {var}v in {{'x': 1, 'y': 2}}.items():"
        bound = ((var, "str"), (f"{var}v", "int"))
    else:
        head = f"for {var} in list(items):"
        bound = ((var, "int"),)
    body_ctx = ctx.inner(in_loop=True, loops=ctx.loops + 1, scope=ctx.scope + bound)
    lines = [head, "    tick()", *_indent(_block(draw, body_ctx))]
    if draw(st.booleans()):
        lines += ["else:", *_indent(_block(draw, ctx.inner()))]
    return lines


_HANDLERS = (
    "except ValueError as {e}:",
    "except KeyError as {e}:",
    "except (KeyError, ValueError) as {e}:",
    "except Exception as {e}:",
    "except ValueError:",
    "except BaseException as {e}:",
    "except:",
)


def _try(draw: Draw, ctx: _Ctx) -> list[str]:
    lines = ["try:", *_indent(_block(draw, ctx.inner()))]
    handlers = draw(st.lists(st.sampled_from(_HANDLERS), max_size=2, unique=True))
    if "except:" in handlers:  # a bare except must come last
        handlers = [h for h in handlers if h != "except:"] + ["except:"]
    for handler in handlers:
        e = f"e{ctx.label()}"
        scope = ctx.scope
        if "{e}" in handler:
            scope += ((e, "exc"),)
        lines.append(handler.format(e=e))
        lines += _indent(_block(draw, ctx.inner(scope=scope, handling=True)))
    if handlers and draw(st.booleans()):
        lines += ["else:", *_indent(_block(draw, ctx.inner()))]
    if not handlers or draw(st.booleans()):
        final_ctx = ctx.inner(in_loop=False, in_finally=True)
        lines += ["finally:", *_indent(_block(draw, final_ctx))]
    return lines


def _match(draw: Draw, ctx: _Ctx) -> list[str]:
    lines = [f"match {_int_atom(draw, ctx)} % 3:"]
    lines += ["    case 0:", *_indent(_indent(_block(draw, ctx.inner())))]
    lines += [f"    case 1 | 2 if {_cond(draw, ctx)}:", *_indent(_indent(_block(draw, ctx.inner())))]
    if draw(st.booleans()):
        lines += ["    case _:", *_indent(_indent(_block(draw, ctx.inner())))]
    return lines


def _guarded(draw: Draw, ctx: _Ctx, stmt: str) -> list[str]:
    """`stmt` (an exit), mostly under an ``if`` so that the code after it is not dead."""
    if draw(st.integers(0, 2)):
        return [f"if {_cond(draw, ctx)}:", f"    {stmt}"]
    return [stmt]


def _raise(draw: Draw, ctx: _Ctx) -> list[str]:
    n = ctx.label()
    forms = [f'raise ValueError("r{n}", {_int_atom(draw, ctx)})', f'raise KeyError("r{n}")']
    if ctx.handling:
        forms.append("raise")
    return _guarded(draw, ctx, str(draw(st.sampled_from(forms))))


def _exit(draw: Draw, ctx: _Ctx) -> list[str]:
    forms = []
    if not ctx.in_finally:
        forms += [FINAL_RETURN, f"return {_int_expr(draw, ctx)}"]
    if ctx.in_loop:
        forms += ["break", "continue"]
    return _guarded(draw, ctx, str(draw(st.sampled_from(forms)))) if forms else ["pass"]


def _exc_log(draw: Draw, ctx: _Ctx) -> list[str]:
    e = draw(st.sampled_from(ctx.names("exc")))
    return [f'log("L{ctx.label()}", type({e}).__name__, {e}.args)']


# Simplest first: hypothesis shrinks toward the start of the list; repeats weight a kind.
_KINDS = (
    "simple",
    "simple",
    "pause",
    "pause",
    "pause",
    "call",
    "call",
    "if",
    "if",
    "for",
    "for",
    "while",
    "try",
    "try",
    "raise",
    "exit",
    "match",
    "exc_log",
)
_LEAVES: dict[str, Callable[[Draw, _Ctx], list[str]]] = {
    "simple": _simple,
    "pause": _pause,
    "call": _call,
    "raise": _raise,
    "exit": _exit,
    "exc_log": _exc_log,
}
_COMPOUND: dict[str, Callable[[Draw, _Ctx], list[str]]] = {
    "if": _if,
    "for": _for,
    "while": _while,
    "try": _try,
    "match": _match,
}


def _stmt(draw: Draw, ctx: _Ctx) -> list[str]:
    ctx.budget[0] -= 1
    kinds = [
        k
        for k in _KINDS
        if (k not in _COMPOUND or (ctx.depth < MAX_DEPTH and ctx.budget[0] >= 1))
        and (k != "exc_log" or ctx.names("exc"))
    ]
    kind = str(draw(st.sampled_from(kinds)))
    make = _COMPOUND.get(kind) or _LEAVES[kind]
    return make(draw, ctx)


def _block(draw: Draw, ctx: _Ctx) -> list[str]:
    """One to three statements (one if the budget is spent)."""
    count = draw(st.integers(1, 3)) if ctx.budget[0] > 0 else 1
    lines: list[str] = []
    for _ in range(count):
        if ctx.budget[0] <= 0 and lines:
            break
        lines += _stmt(draw, ctx) if ctx.budget[0] > 0 else _simple(draw, ctx)
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
    body = tuple(body)
    return Program(body, module_source(body))


HEADER = ("a, b, c = 0, 1, 2", 's = ""', "items = []")


def module_source(body: tuple[str, ...], docstring: str = "A program generated by test_property.") -> str:
    """The module for `body`: imports (only what it uses), then ``async def program()``."""
    lines = ["async def program():", *_indent([*HEADER, *body, FINAL_RETURN])]
    text = "\n".join(lines)
    used = set(re.findall(r"\b\w+\b", text))
    support = [n for n in ("log", "tick") if n in used]
    kids = [n for n in (*CHILDREN_1, "child_append", "plain_helper") if n in used]
    imports = []
    if "PauseForEventException" in used:
        imports.append("from durable import PauseForEventException")
    if support:
        imports.append(f"from regressions import {', '.join(support)}")
    if kids:
        imports.append(f"from regressions.children import {', '.join(kids)}")
    return "\n".join(
        [f'"""{docstring}"""', "", "# ruff: noqa", "", *imports, "", "", text, ""]
    )


plans = st.builds(
    Plan,
    store=st.sampled_from(["memory", "memory", "memory", "disk"]),
    fresh=st.lists(st.booleans(), min_size=1, max_size=3).map(tuple),
    recall_unpublished=st.booleans(),
    early=st.booleans(),
)


# -- the tests -------------------------------------------------------------------------------

_modules = itertools.count(1)


@pytest.fixture(scope="module")
def program_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("programs")


def _settings() -> settings:
    if HUNT:
        return settings(
            max_examples=HUNT,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@_settings()
@given(program=programs(), plan=plans)
async def test_durable_run_matches_plain_run(program: Program, plan: Plan, program_dir: Path) -> None:
    name = f"_durable_property_{next(_modules)}"
    path = program_dir / f"{name}.py"
    path.write_text(program.source)
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
        seen.update(program.source.split())

    collect()
    wanted = {
        "if", "elif", "else:", "while", "for", "try:", "except", "finally:", "break", "continue",
        "return", "raise", "match", "PauseForEventException(f\"p", "await", "+=", "tick()",
    }
    words = " ".join(seen)
    missing = {w for w in wanted if w not in words}
    assert not missing
