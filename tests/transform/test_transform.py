"""The transformer through the public API: what it saves, what it refuses, where errors point."""

from __future__ import annotations

import ast
import dataclasses
import json
import textwrap
import traceback
from typing import Any

import pytest

from durable import (
    DurableBackend,
    InMemoryStateStore,
    NoSourceError,
    PauseForEventException,
    SnapshotValidationError,
    UnserializableStateError,
    UnsupportedSyntaxError,
    make_durable,
)
from durable._transform import DurableAstTransformer

COUNTER = 0


async def _big_dead_value() -> int:
    big = "x" * 50_000_000
    n = len(big)
    raise PauseForEventException("go")
    return n


async def _maybe_unbound(flag: bool) -> str:
    if flag:
        x = "bound"
    raise PauseForEventException("go")
    try:
        return x
    except UnboundLocalError:
        return "unbound"


async def _uses_global() -> int:
    global COUNTER
    COUNTER += 1
    raise PauseForEventException("go")
    COUNTER += 10
    return COUNTER


async def _fails_after_resume(n: int) -> int:
    raise PauseForEventException("go")
    return 10 // n  # TRACEBACK-MARK


async def _two_points(a: int) -> int:
    b = a + 1
    raise PauseForEventException("first")
    c = b * 2
    raise PauseForEventException("second")
    return c


big_dead_value = make_durable(_big_dead_value)
maybe_unbound = make_durable(_maybe_unbound)
uses_global = make_durable(_uses_global)
fails_after_resume = make_durable(_fails_after_resume)
two_points = make_durable(_two_points)


async def _drive(prog: Any, *args: Any, store: InMemoryStateStore | None = None) -> Any:
    """Call `prog` until it finishes, publishing each awaited event; return (result, store)."""
    store = store or InMemoryStateStore()
    for _ in range(20):
        backend = DurableBackend(store)
        try:
            return await prog(*args, orchestration_backend=backend, instance_id="t")
        except PauseForEventException as e:
            backend.publish_event("t", e.event)
    raise AssertionError("did not finish")


class TestLiveness:
    async def test_dead_large_value_is_not_saved(self) -> None:
        """A 50 MB string that is dead at the pause does not reach the snapshot."""
        store = InMemoryStateStore()
        with pytest.raises(PauseForEventException):
            await big_dead_value(orchestration_backend=DurableBackend(store), instance_id="t")
        saved = store.load("t")
        assert saved is not None
        assert len(saved) < 10_000
        frame = json.loads(saved)["call_stack"]["frames"][0]
        assert set(frame["locals"]) == {"n"}
        assert await _drive(big_dead_value, store=store) == 50_000_000

    @pytest.mark.parametrize(("flag", "expected"), [(True, "bound"), (False, "unbound")])
    async def test_unbound_variable_stays_unbound(self, flag: bool, expected: str) -> None:
        """A variable unbound at the pause is still unbound after resume."""
        assert await _drive(maybe_unbound, flag) == expected

    def test_code_blocks_name_live_variables(self) -> None:
        """Each resume point is a code block listing the variables saved there."""
        blocks = two_points.code_blocks
        assert [(b.id, b.kind) for b in blocks] == [(0, "start"), (1, "pause"), (2, "pause")]
        assert blocks[0].live == ("a",)
        assert blocks[1].live == ("b",)
        assert blocks[2].live == ("c",)


class TestSemantics:
    async def test_global_is_module_state(self) -> None:
        """`global` names are read and written in the module, never saved."""
        global COUNTER
        COUNTER = 0
        assert await _drive(uses_global) == 11

    async def test_traceback_points_at_user_line(self) -> None:
        """An exception after a resume has a traceback frame at the user's own file and line."""
        with pytest.raises(ZeroDivisionError) as info:
            await _drive(fails_after_resume, 0)
        frames = traceback.extract_tb(info.value.__traceback__)
        with open(__file__) as f:
            line = next(i for i, text in enumerate(f, 1) if text.endswith("# TRACEBACK-MARK\n"))
        assert any(f.filename == __file__ and f.lineno == line for f in frames), frames


class TestRefusals:
    def test_reserved_prefix(self) -> None:
        """User names with the generated-name prefix are refused with the line."""

        async def f() -> None:
            _dur_x = 1
            raise PauseForEventException("e")

        with pytest.raises(UnsupportedSyntaxError, match=r"_dur_x"):
            make_durable(f)

    def test_closure_refused(self) -> None:
        """A durable function that closes over a local of another function is refused."""
        captured = 1

        async def f() -> int:
            raise PauseForEventException("e")
            return captured

        with pytest.raises(UnsupportedSyntaxError, match="closure"):
            make_durable(f)

    def test_decorator_wrappers_refused(self) -> None:
        """A wrapper made by a decorator is a closure, so it is refused; the function is not."""
        import functools

        def deco(fn: Any) -> Any:
            @functools.wraps(fn)
            async def inner() -> Any:
                return await fn()

            return inner

        @deco
        async def f() -> None:
            raise PauseForEventException("e")

        with pytest.raises(UnsupportedSyntaxError, match="closure"):
            make_durable(f)

    def test_no_source(self) -> None:
        """A function built by exec has no source: NoSourceError."""
        ns: dict[str, Any] = {}
        exec("async def f():\n    return 1\n", ns)
        with pytest.raises(NoSourceError):
            make_durable(ns["f"])

    def test_not_async(self) -> None:
        """Only `async def` functions can be made durable."""

        def f() -> None: ...

        with pytest.raises(TypeError, match="async def"):
            make_durable(f)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "source",
        [
            "async def f(cm):\n    with cm:\n        raise PauseForEventException('e')\n",
            "async def f(cm):\n    async with cm:\n        raise PauseForEventException('e')\n",
            "async def f(it):\n    async for x in it:\n        raise PauseForEventException('e')\n",
            "async def f():\n    yield 1\n",
        ],
        ids=["with", "async-with", "async-for", "async-generator"],
    )
    def test_unsupported_forms_name_the_line(self, tmp_path: Any, source: str) -> None:
        """A pause that cannot be saved is refused at make_durable time with file and line."""
        import importlib.util
        import sys

        path = tmp_path / "case_mod.py"
        path.write_text("from durable import PauseForEventException\n" + source)
        spec = importlib.util.spec_from_file_location("case_mod", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["case_mod"] = module
        try:
            spec.loader.exec_module(module)
            with pytest.raises(UnsupportedSyntaxError) as info:
                make_durable(module.f)
        finally:
            del sys.modules["case_mod"]
        assert info.value.filename == str(path)
        assert info.value.lineno > 1


@dataclasses.dataclass
class Ledger:
    owner: str
    entries: list[int]

    @make_durable
    async def add(self, amount: int) -> int:
        self.entries.append(amount)
        raise PauseForEventException("confirm")
        return sum(self.entries)

    @make_durable
    async def add_twice(self, amount: int) -> int:
        await self.add(amount)
        return await self.add(amount)

    @staticmethod
    @make_durable
    async def double(x: int) -> int:
        raise PauseForEventException("go")
        return x * 2

    @classmethod
    @make_durable
    async def opened(cls, owner: str) -> Ledger:
        raise PauseForEventException("go")
        return cls(owner, [])


class NotAnOwner:
    pass


async def _holds_a_class() -> str:
    kind = NotAnOwner
    raise PauseForEventException("go")
    return kind.__name__


holds_a_class = make_durable(_holds_a_class)


class TestMethods:
    async def test_method_binds_self_and_saves_it(self) -> None:
        """A durable method receives its instance; the instance is saved and restored."""
        assert await _drive(Ledger("ada", [1]).add, 2) == 3

    async def test_method_calls_method(self) -> None:
        """`await self.other(...)` inside a durable method is a nested durable call."""
        assert await _drive(Ledger("ada", []).add_twice, 5) == 10

    async def test_staticmethod(self) -> None:
        """`@staticmethod` above `@make_durable` works."""
        assert await _drive(Ledger.double, 21) == 42

    async def test_classmethod_saves_cls_by_reference(self) -> None:
        """`@classmethod` above `@make_durable`: `cls` is live at the pause and saved by name."""
        assert await _drive(Ledger.opened, "bo") == Ledger("bo", [])

    async def test_other_classes_are_not_saved(self) -> None:
        """A class that defines no durable method cannot be saved as a value."""
        with pytest.raises(UnserializableStateError, match="classes cannot be saved"):
            await _drive(holds_a_class)

    async def test_hostile_class_reference_is_refused(self) -> None:
        """A snapshot naming a class that owns no durable method is refused, nothing called."""
        store = InMemoryStateStore()
        with pytest.raises(PauseForEventException):
            await Ledger.opened("bo", orchestration_backend=DurableBackend(store), instance_id="t")
        saved = store.load("t")
        assert saved is not None and b'"$t":"class"' in saved
        store.save(
            "t", saved.replace(b'"cls":"test_transform:Ledger"', b'"cls":"subprocess:Popen"')
        )
        DurableBackend(store).publish_event("t", "go")
        with pytest.raises(SnapshotValidationError, match="Popen"):
            await Ledger.opened("bo", orchestration_backend=DurableBackend(store), instance_id="t")


async def _lowered(xs: list[int]) -> Any:
    x = "outer"
    got = [(x, await two_points(x)) for x in xs if x]
    return x, got


async def _captured(xs: list[int]) -> list[int]:
    return [(lambda: x)() + await two_points(x) for x in xs]


async def _unsaveable_variable() -> list[Any]:
    return [await two_points(1) and kind for kind in [NotAnOwner]]


async def _over_generator() -> list[int]:
    return [await two_points(x) for x in (y for y in [1])]


lowered = make_durable(_lowered)
over_generator = make_durable(_over_generator)
captured = make_durable(_captured)
unsaveable_variable = make_durable(_unsaveable_variable)


def _transformed(source: str) -> ast.Module:
    fn = ast.parse(textwrap.dedent(source)).body[0]
    assert isinstance(fn, ast.AsyncFunctionDef)
    return DurableAstTransformer("<test>").transform(fn).module


class TestComprehensions:
    """Comprehensions awaiting calls are lowered into resumable loops; the rest stay native.

    Their behaviour is compared with plain Python in tests/corpus/comprehensions.py."""

    @pytest.mark.parametrize(
        ("source", "kind"),
        [
            ("async def f(xs):\n    return [x * 2 for x in xs if x]\n", ast.ListComp),
            ("async def f(xs):\n    return {x: await g() for x in await h(xs)}\n", None),
            ("async def f(xs):\n    return [await g(x) for x in xs]\n", None),
            ("async def f(xs):\n    return [await g(y) for y in (await h(x) for x in xs)]\n", None),
            ("async def f(xs):\n    return list(await g(x) for x in xs)\n", ast.GeneratorExp),
            ("async def f(xs):\n    return [await g(x) async for x in xs]\n", ast.ListComp),
            ("async def f(xs):\n    return [(lambda: x, await g()) for x in xs]\n", ast.ListComp),
            (
                "async def f(xs):\n    return {x: [x for x in y] for x in [await g(y)]}\n",
                ast.DictComp,
            ),
            (
                "async def f(xs):\n    return {x: [await g(x) for x in x] for x in xs}\n",
                ast.DictComp,
            ),
            ("async def f(xs):\n    return {x: [await g(x) for y in x] for x in xs}\n", None),
        ],
        ids=[
            "nothing-awaited",
            "first-iterable-and-value",
            "element",
            "inner-generator-expression-not-lowered",
            "generator-expression",
            "async-for-clause",
            "lambda-captures-variable",
            "await-only-in-first-iterable",
            "nested-comprehension-rebinds-variable",
            "nested-comprehensions",
        ],
    )
    def test_what_is_lowered(self, source: str, kind: type[ast.AST] | None) -> None:
        """Only list/set/dict comprehensions awaiting beyond their first iterable, whose
        variables no closure captures, become loops; ``None``: no comprehension is left."""
        left = [
            type(n)
            for n in ast.walk(_transformed(source))
            if isinstance(n, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp))
        ]
        if kind is None:
            assert ast.DictComp not in left and ast.ListComp not in left
        else:
            assert kind in left

    def test_variables_are_hidden_locals(self) -> None:
        """The comprehension's variable is a hidden local, saved while live; `x` is untouched."""
        names = {name for b in lowered.code_blocks for name in b.live}
        assert "_dur_comp_x_1" in names and "_dur_comp1" in names
        assert lowered._compiled.hidden["_dur_comp_x_1"].startswith(
            "the variable 'x' of a comprehension at line"
        )

    async def test_resumes_inside_the_comprehension(self) -> None:
        assert await _drive(lowered, [0, 1, 2]) == ("outer", [(1, 4), (2, 6)])

    async def test_captured_variable_keeps_the_comprehension_inline(self) -> None:
        """A lambda capturing the variable: the comprehension stays native, so a child pausing
        in it fails as before, naming the pause's line."""
        with pytest.raises(UnsupportedSyntaxError, match="paused for 'first' where a pause"):
            await _drive(captured, [1])

    async def test_unsaveable_variable_is_named(self) -> None:
        """A comprehension variable live at a point that cannot be saved is named as such."""
        with pytest.raises(UnserializableStateError, match="variable 'kind' of a comprehension"):
            await _drive(unsaveable_variable)

    async def test_live_generator_is_named(self) -> None:
        """As in a ``for`` loop, a durable call while a generator is iterated cannot be saved."""
        with pytest.raises(UnserializableStateError, match="the iterator of a comprehension"):
            await _drive(over_generator)

    def test_fingerprint_sets_lowered_functions_apart(self) -> None:
        """Snapshots saved while such comprehensions ran inline (with other point numbers) are
        matched by point name, never by number."""
        from durable._transform import _function_node, fingerprint

        node, _ = _function_node(_lowered)
        assert lowered.fingerprint == fingerprint(node, renumbered=True)
        assert lowered.fingerprint != fingerprint(node)


async def _guarded(x: int) -> int:
    match x:
        case 1 if await _ident(True):
            x = 2
    raise PauseForEventException("after")
    return x


async def _plain_pause(x: int) -> int:
    x = await _ident(x)
    raise PauseForEventException("after")
    return x


async def _ident(value: Any) -> Any:
    return value


def test_fingerprint_sets_apart_functions_numbered_differently_since_version_1() -> None:
    """An awaited call where transform version 1 made no point (here a `match` guard) shifts
    the later points: such functions hash apart from their version-1 fingerprint, so their
    old snapshots resume by point name. Other functions keep their fingerprint."""
    from durable._transform import _function_node, fingerprint

    guarded, plain = make_durable(_guarded), make_durable(_plain_pause)
    guarded_node, _ = _function_node(_guarded)
    plain_node, _ = _function_node(_plain_pause)
    assert guarded.fingerprint == fingerprint(guarded_node, renumbered=True)
    assert guarded.fingerprint != fingerprint(guarded_node)
    assert plain.fingerprint == fingerprint(plain_node)
