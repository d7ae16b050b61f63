"""Robustness: corrupt state, hostile ids, events, isolation, unsaveable values, bad syntax.

The durable functions live at module level (make_durable needs their source). Each appends to
`EFFECTS`, so a test can see exactly which blocks ran. Lines are found by `# L:name` markers.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import pathlib
import traceback
from typing import Any

import anyio
import pytest

from durable import (
    DiskStateStore,
    DurableBackend,
    DurableError,
    IncompatibleSnapshotError,
    InMemoryStateStore,
    InvalidInstanceIdError,
    NoSourceError,
    PauseForEventException,
    SnapshotValidationError,
    StoreError,
    UnserializableStateError,
    UnsupportedSyntaxError,
    check,
    make_durable,
)

EFFECTS: list[str] = []
HOLD = {"mode": "plain"}  # which value `holds` keeps live across its second pause
SOURCE = pathlib.Path(__file__).read_text().splitlines()


def line_of(marker: str) -> int:
    """The line of this file that ends with the comment ``# L:<marker>``."""
    hits = [i for i, text in enumerate(SOURCE, 1) if text.endswith(f"# L:{marker}")]
    assert len(hits) == 1, marker
    return hits[0]


@pytest.fixture(autouse=True)
def _clear_effects() -> None:
    EFFECTS.clear()
    HOLD["mode"] = "plain"


@pytest.fixture
def store_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "store"


@pytest.fixture
def disk(store_dir: pathlib.Path) -> DurableBackend:
    return DurableBackend(DiskStateStore(store_dir))


class SavedSnapshot:
    """The snapshot of the one instance in a store folder, read and replaced through the store
    (as a damaged or foreign file would hold it), and the raw bytes of its journal file."""

    def __init__(self, store_dir: pathlib.Path) -> None:
        self.store = DiskStateStore(store_dir)
        (self.instance_id,) = self.store.list_instances()
        (self.journal,) = store_dir.glob("*.log")

    def read_bytes(self) -> bytes:
        data = self.store.load(self.instance_id)
        assert data is not None
        return data

    def write_bytes(self, data: bytes) -> None:
        self.store.save(self.instance_id, data)

    def file_bytes(self) -> bytes:
        return self.journal.read_bytes()


def snapshot_file(store_dir: pathlib.Path) -> SavedSnapshot:
    return SavedSnapshot(store_dir)


async def pause_of(call: Any) -> str:
    with pytest.raises(PauseForEventException) as info:
        await call
    return info.value.event


# -- durable functions ----------------------------------------------------------------------


async def steps(tag: str):
    EFFECTS.append(f"{tag} 1")
    count = len(tag)
    raise PauseForEventException("go")
    EFFECTS.append(f"{tag} 2")
    return f"{tag}:{count}"


async def sleepy(tag: str, delay: float):
    mine = [tag]
    await anyio.sleep(delay)
    mine.append("slept")
    raise PauseForEventException("go")
    mine.append("resumed")
    EFFECTS.append(tag)
    return mine


async def holds(path: str):
    EFFECTS.append("start")
    raise PauseForEventException("first")
    if HOLD["mode"] == "file":
        value = open(path)  # noqa: SIM115
    elif HOLD["mode"] == "function":
        value = fails_after_resume  # module-level: not saved (a lambda made here would be)
    elif HOLD["mode"] == "generator":
        value = (c for c in "ab")
    else:
        value = "plain"
    EFFECTS.append("opened")
    raise PauseForEventException("second")  # L:holds-second
    EFFECTS.append("end")
    return type(value).__name__


async def fails_after_resume(n: int):
    EFFECTS.append("before")
    raise PauseForEventException("go")
    if n > 0:
        raise ValueError(f"bad {n}")  # L:fails-raise
    return n


async def plain_helper():  # not made durable: its pause cannot be saved
    raise PauseForEventException("go")


async def calls_plain_helper():
    EFFECTS.append("before")
    await plain_helper()
    return "done"


async def calls_failing(n: int):
    return await durable_fails(n)  # L:calls-failing


async def twice():
    EFFECTS.append("1")
    raise PauseForEventException("go")
    EFFECTS.append("2")
    raise PauseForEventException("go")
    EFFECTS.append("3")
    return "done"


@dataclasses.dataclass
class Point:
    x: int
    y: int


async def keeps(value: Any):
    raise PauseForEventException("go")
    return value


durable_steps = make_durable(steps)
durable_twice = make_durable(twice)
durable_keeps = make_durable(keeps)
durable_sleepy = make_durable(sleepy)
durable_holds = make_durable(holds)
durable_fails = make_durable(fails_after_resume)
durable_calls_failing = make_durable(calls_failing)
durable_calls_plain = make_durable(calls_plain_helper)


# -- corrupt state ----------------------------------------------------------------------------


def _truncate(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


def _garble(raw: bytes) -> bytes:
    middle = len(raw) // 2
    return raw[:middle] + b"\x00\xff}{garbage" + raw[middle + 10 :]


def _tag_os_system(raw: bytes) -> bytes:
    """Valid JSON where a saved value's type tag names ``os:system``."""
    state = json.loads(raw)
    found = _retag(state["call_stack"]["frames"][0]["locals"])
    assert found, f"no type tag found in {state['call_stack']}"
    return json.dumps(state).encode()


def _retag(node: Any) -> bool:
    """Replace every string that looks like a ``module:qualname`` tag by ``os:system``."""
    found = False
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and ":" in value and key not in ("function",):
                node[key], found = "os:system", True
            else:
                found = _retag(value) or found
    elif isinstance(node, list):
        for value in node:
            found = _retag(value) or found
    return found


CORRUPTIONS = {
    "truncated": (_truncate, SnapshotValidationError),
    "garbled": (_garble, SnapshotValidationError),
    "empty": (lambda raw: b"", SnapshotValidationError),
    "json-list": (lambda raw: b"[1, 2, 3]", SnapshotValidationError),
    "json-string": (lambda raw: b'"snapshot"', SnapshotValidationError),
    "json-null": (lambda raw: b"null", SnapshotValidationError),
    "missing-fields": (lambda raw: b'{"format_version": 1}', SnapshotValidationError),
    "format-version": (
        lambda raw: json.dumps({**json.loads(raw), "format_version": 999}).encode(),
        IncompatibleSnapshotError,
    ),
    "tampered-tag": (_tag_os_system, SnapshotValidationError),
    "exception-tag": (
        lambda raw: _set_local(raw, {"$t": "exc", "cls": "os:system", "args": ["echo hi"]}),
        SnapshotValidationError,
    ),
    "unknown-tag": (
        lambda raw: _set_local(raw, {"$t": "pickle", "v": "gASV"}),
        SnapshotValidationError,
    ),
    "seq-not-int": (
        lambda raw: json.dumps({**json.loads(raw), "seq": "many"}).encode(),
        SnapshotValidationError,
    ),
}


def _set_local(raw: bytes, node: Any) -> bytes:
    """Valid JSON whose first saved local is replaced by `node`."""
    state = json.loads(raw)
    frame_locals = state["call_stack"]["frames"][0]["locals"]
    frame_locals[next(iter(frame_locals))] = node
    return json.dumps(state).encode()


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
async def test_corrupt_snapshot_is_refused_and_left_alone(
    kind: str, disk: DurableBackend, store_dir: pathlib.Path
) -> None:
    """A corrupt, invalid or foreign-format snapshot raises an error naming the instance, runs no
    code and leaves the file byte-for-byte as it was."""
    iid = "corrupt-me"
    program = durable_keeps if kind == "tampered-tag" else durable_steps
    arg = Point(1, 2) if kind == "tampered-tag" else "abc"
    assert await pause_of(program(arg, orchestration_backend=disk, instance_id=iid)) == "go"
    disk.publish_event(iid, "go")
    corrupt, expected = CORRUPTIONS[kind]
    path = snapshot_file(store_dir)
    path.write_bytes(corrupt(path.read_bytes()))
    before, effects = path.file_bytes(), list(EFFECTS)
    with pytest.raises(expected) as info:
        await program(arg, orchestration_backend=disk, instance_id=iid)
    assert iid in str(info.value)
    assert path.file_bytes() == before
    assert effects == EFFECTS


async def test_tampered_tag_never_imports_or_calls(
    disk: DurableBackend, store_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot whose value tag names ``os:system`` is refused without ever calling it."""
    import os

    called: list[Any] = []
    monkeypatch.setattr(os, "system", lambda *a: called.append(a))
    iid = "tamper"
    await pause_of(durable_keeps(Point(3, 4), orchestration_backend=disk, instance_id=iid))
    disk.publish_event(iid, "go")
    path = snapshot_file(store_dir)
    path.write_bytes(_tag_os_system(path.read_bytes()))
    with pytest.raises(SnapshotValidationError, match=iid):
        await durable_keeps(Point(3, 4), orchestration_backend=disk, instance_id=iid)
    assert called == []


def _frame_edit(edit: Any) -> Any:
    def corrupt(raw: bytes) -> bytes:
        state = json.loads(raw)
        edit(state["call_stack"]["frames"][0])
        return json.dumps(state).encode()

    return corrupt


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda f: f.update(resume_point=999), id="point-999"),
        pytest.param(lambda f: f.update(resume_point=-1), id="point-negative"),
        pytest.param(lambda f: f.update(resume_point=0), id="point-0-with-pause-locals"),
        pytest.param(lambda f: f["locals"].pop("count"), id="live-local-missing"),
        pytest.param(lambda f: f["locals"].update(stray=1), id="unexpected-local"),
        pytest.param(lambda f: f["locals"].update(_dur_ip=5), id="internal-name"),
    ],
)
async def test_snapshot_inconsistent_with_the_code_is_refused(
    edit: Any, disk: DurableBackend, store_dir: pathlib.Path
) -> None:
    """A well-formed snapshot whose frame does not fit the code (unknown resume point, missing or
    stray variable) raises SnapshotValidationError naming the instance, runs nothing, stays put."""
    call = lambda: durable_steps("abc", orchestration_backend=disk, instance_id="odd")  # noqa: E731
    assert await pause_of(call()) == "go"
    disk.publish_event("odd", "go")
    path = snapshot_file(store_dir)
    path.write_bytes(_frame_edit(edit)(path.read_bytes()))
    before = path.file_bytes()
    with pytest.raises(SnapshotValidationError, match="odd"):
        await call()
    assert (path.file_bytes(), EFFECTS) == (before, ["abc 1"])


async def test_an_event_without_a_readable_name_is_refused_and_stores_nothing(
    disk: DurableBackend, store_dir: pathlib.Path
) -> None:
    """Event data added through the seed's ``add_event`` must name its event; garbled data is
    refused with StoreError naming the instance, and the inbox and snapshot stay as they were:
    the instance still takes its next real event."""
    await pause_of(durable_steps("e", orchestration_backend=disk, instance_id="evt-owner-7"))
    before = snapshot_file(store_dir).file_bytes()
    with pytest.raises(StoreError, match="evt-owner-7"):
        DiskStateStore(store_dir).add_event("evt-owner-7", "garbled", b"\x00not json")
    assert snapshot_file(store_dir).file_bytes() == before
    assert DiskStateStore(store_dir).read("evt-owner-7").inbox == ()
    disk.publish_event("evt-owner-7", "go")
    assert await durable_steps("e", orchestration_backend=disk, instance_id="evt-owner-7") == "e:1"
    assert EFFECTS == ["e 1", "e 2"]


async def test_one_damaged_journal_does_not_hide_the_others_from_check(
    disk: DurableBackend, store_dir: pathlib.Path
) -> None:
    """`check` reports a damaged journal as refused (naming it) and the others as usual; the
    damaged file is left as it is and resuming it raises StoreError, not a fresh start."""
    for iid in ("good-1", "bad-1"):
        await pause_of(durable_steps("c", orchestration_backend=disk, instance_id=iid))
    bad = next(store_dir.glob("i_bad-1.log"))
    bad.write_bytes(b"\x00" * 64)
    reports = {r.instance_id: r for r in await check(disk)}
    assert reports["good-1"].action == "resume"
    assert reports["bad-1"].action == "refuse" and "bad-1" in reports["bad-1"].reason
    with pytest.raises(StoreError, match="bad-1"):
        await durable_steps("c", orchestration_backend=disk, instance_id="bad-1")
    assert bad.read_bytes() == b"\x00" * 64
    assert EFFECTS == ["c 1", "c 1"]


# -- instance ids -----------------------------------------------------------------------------

HOSTILE_IDS = ["../x", "/abs", "a\x00b", "", "..", ".", "x" * 10_000, "\ud800", "a/../../b"]


def files_under(root: pathlib.Path) -> set[pathlib.Path]:
    return {p for p in root.rglob("*")}


@pytest.mark.parametrize("iid", HOSTILE_IDS, ids=lambda s: repr(s)[:12])
async def test_hostile_instance_ids_work_inside_the_store(iid: str, tmp_path: pathlib.Path) -> None:
    """Any string works as an instance id end to end on a DiskStateStore, and every file it makes
    is inside the store folder."""
    store_dir = tmp_path / "deep" / "store"
    disk = DurableBackend(DiskStateStore(store_dir))
    outside = files_under(tmp_path) - files_under(store_dir)
    assert await pause_of(durable_steps("t", orchestration_backend=disk, instance_id=iid)) == "go"
    disk.publish_event(iid, "go")
    assert await durable_steps("?", orchestration_backend=disk, instance_id=iid) == "t:1"
    assert await durable_steps("?", orchestration_backend=disk, instance_id=iid) == "t:1"
    assert EFFECTS == ["t 1", "t 2"]
    assert files_under(tmp_path) - files_under(store_dir) == outside
    assert all(store_dir in (p.parent, p.parent.parent) for p in files_under(store_dir))
    assert not pathlib.Path("/abs").exists()


async def test_hostile_ids_do_not_share_state(disk: DurableBackend) -> None:
    """Distinct hostile ids are distinct instances: an event for one never resumes another."""
    for n, iid in enumerate(HOSTILE_IDS):
        await pause_of(durable_steps("v" * (n + 1), orchestration_backend=disk, instance_id=iid))
    disk.publish_event("..", "go")
    for n, iid in enumerate(HOSTILE_IDS):
        call = durable_steps("?", orchestration_backend=disk, instance_id=iid)
        if iid == "..":
            assert await call == f"{'v' * (n + 1)}:{n + 1}"
        else:
            assert await pause_of(call) == "go"


@pytest.mark.parametrize("bad", [123, b"bytes", ["a"], 1.5, object()])
async def test_non_string_instance_id_is_refused(bad: Any, disk: DurableBackend) -> None:
    """A non-str instance id raises InvalidInstanceIdError, from a call and from publish_event, and
    stores nothing."""
    with pytest.raises(InvalidInstanceIdError):
        await durable_steps("x", orchestration_backend=disk, instance_id=bad)
    with pytest.raises(InvalidInstanceIdError):
        disk.publish_event(bad, "go")
    assert EFFECTS == []
    assert list(disk.store.path.iterdir()) == []


# -- events -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "disk"])
async def test_event_published_before_first_run_is_kept(kind: str, tmp_path: pathlib.Path) -> None:
    """An event published before the instance ever ran is consumed at its pause, so the first call
    runs to the end."""
    store = InMemoryStateStore() if kind == "memory" else DiskStateStore(tmp_path / "s")
    backend = DurableBackend(store)
    backend.publish_event("early", "go")
    assert await durable_steps("ab", orchestration_backend=backend, instance_id="early") == "ab:2"
    assert EFFECTS == ["ab 1", "ab 2"]


async def test_resume_without_event_reraises_and_changes_nothing(
    disk: DurableBackend, store_dir: pathlib.Path
) -> None:
    """Calling a paused instance whose event was not published re-raises the pause, runs nothing
    and leaves the snapshot unchanged."""
    await pause_of(durable_steps("a", orchestration_backend=disk, instance_id="r"))
    disk.publish_event("r", "other-event")
    before = snapshot_file(store_dir).file_bytes()
    for _ in range(3):
        call = durable_steps("a", orchestration_backend=disk, instance_id="r")
        assert await pause_of(call) == "go"
    assert EFFECTS == ["a 1"]
    assert snapshot_file(store_dir).file_bytes() == before


async def test_each_event_is_consumed_once(disk: DurableBackend) -> None:
    """One published event resumes one pause: a second pause on the same name waits for a second
    event."""
    disk.publish_event("once", "go")
    assert await pause_of(durable_twice(orchestration_backend=disk, instance_id="once")) == "go"
    assert await pause_of(durable_twice(orchestration_backend=disk, instance_id="once")) == "go"
    assert EFFECTS == ["1", "2"]
    disk.publish_event("once", "go")
    assert await durable_twice(orchestration_backend=disk, instance_id="once") == "done"
    assert EFFECTS == ["1", "2", "3"]


# -- isolation --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "disk"])
async def test_interleaved_instances_share_nothing(kind: str, tmp_path: pathlib.Path) -> None:
    """Two interleaved instances of one program keep their own arguments, locals and events."""
    store = InMemoryStateStore() if kind == "memory" else DiskStateStore(tmp_path / "s")
    backend = DurableBackend(store)
    await pause_of(durable_steps("alpha", orchestration_backend=backend, instance_id="A"))
    await pause_of(durable_steps("be", orchestration_backend=backend, instance_id="B"))
    backend.publish_event("A", "go")
    assert await pause_of(durable_steps("x", orchestration_backend=backend, instance_id="B"))
    assert await durable_steps("x", orchestration_backend=backend, instance_id="A") == "alpha:5"
    assert await pause_of(durable_steps("x", orchestration_backend=backend, instance_id="B"))
    backend.publish_event("B", "go")
    assert await durable_steps("x", orchestration_backend=backend, instance_id="B") == "be:2"
    assert EFFECTS == ["alpha 1", "be 1", "alpha 2", "be 2"]


@pytest.mark.parametrize("kind", ["memory", "disk"])
async def test_concurrent_instances_in_one_task_group(kind: str, tmp_path: pathlib.Path) -> None:
    """Two instances running concurrently in one task group share no state, and an event for A
    never resumes B."""
    store = InMemoryStateStore() if kind == "memory" else DiskStateStore(tmp_path / "s")
    backend = DurableBackend(store)
    backend.publish_event("A", "go")
    results: dict[str, Any] = {}

    async def run(iid: str, delay: float) -> None:
        try:
            results[iid] = await durable_sleepy(
                iid.lower(), delay, orchestration_backend=backend, instance_id=iid
            )
        except PauseForEventException as e:
            results[iid] = f"paused on {e.event}"

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, "A", 0.05)
        tg.start_soon(run, "B", 0.02)
    assert results == {"A": ["a", "slept", "resumed"], "B": "paused on go"}
    assert EFFECTS == ["a"]
    backend.publish_event("B", "go")
    async with anyio.create_task_group() as tg:
        tg.start_soon(run, "A", 9)  # finished: answers from its snapshot, never sleeps
        tg.start_soon(run, "B", 9)  # resumes after its pause: the sleep is not re-run
    assert results == {"A": ["a", "slept", "resumed"], "B": ["b", "slept", "resumed"]}
    assert EFFECTS == ["a", "b"]


async def test_pause_from_plain_coroutine_is_not_reported_as_a_pause(
    disk: DurableBackend,
) -> None:
    """A PauseForEventException raised inside a plain coroutine awaited by a durable function
    surfaces as UnsupportedSyntaxError, never as a pause the instance can never leave."""
    for _ in range(2):  # not saved as the instance's outcome: the second call runs again
        with pytest.raises(UnsupportedSyntaxError, match="plain_helper"):
            await durable_calls_plain(orchestration_backend=disk, instance_id="plain")
    assert EFFECTS == ["before", "before"]


# -- unserializable values --------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["file", "function", "generator"])
async def test_unserializable_live_value_keeps_last_snapshot(
    mode: str, disk: DurableBackend, store_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """A live value that cannot be saved raises UnserializableStateError naming the variable,
    function and line, and the last good snapshot stays as it was and can still be resumed."""
    data = tmp_path / "data.txt"
    data.write_text("hi")
    call = lambda: durable_holds(str(data), orchestration_backend=disk, instance_id="u")  # noqa: E731
    assert await pause_of(call()) == "first"
    before = snapshot_file(store_dir).read_bytes()
    disk.publish_event("u", "first")
    HOLD["mode"] = mode
    with pytest.raises(UnserializableStateError) as info:
        await call()
    message = str(info.value)
    assert "'value'" in message or "`value`" in message, message
    assert "holds" in message and f"line {line_of('holds-second')}" in message, message
    assert snapshot_file(store_dir).read_bytes() == before
    HOLD["mode"] = "plain"  # the code path changes: the saved state is still good
    assert await pause_of(call()) == "second"
    disk.publish_event("u", "second")
    assert await call() == "str"
    assert EFFECTS == ["start", "opened", "opened", "end"]


# -- syntax that cannot be made durable -------------------------------------------------------


class _CM:
    def __enter__(self) -> None: ...
    def __exit__(self, *a: object) -> None: ...
    async def __aenter__(self) -> None: ...
    async def __aexit__(self, *a: object) -> None: ...


async def _aiter():
    yield 1


async def pause_in_with():
    with _CM():
        raise PauseForEventException("x")  # L:with


async def pause_in_async_with():
    async with _CM():
        raise PauseForEventException("x")  # L:async-with


async def pause_in_async_for():
    async for _ in _aiter():
        raise PauseForEventException("x")  # L:async-for


async def an_async_generator():
    raise PauseForEventException("x")
    yield 1  # L:yield


@pytest.mark.parametrize(
    ("fn", "marker"),
    [
        (pause_in_with, "with"),
        (pause_in_async_with, "async-with"),
        (pause_in_async_for, "async-for"),
    ],
    ids=["with", "async-with", "async-for"],
)
def test_pause_where_state_cannot_be_saved_is_refused(fn: Any, marker: str) -> None:
    """A pause inside with / async with / async for is refused by make_durable with
    UnsupportedSyntaxError naming this file and the pause's line."""
    with pytest.raises(UnsupportedSyntaxError) as info:
        make_durable(fn)
    assert info.value.lineno == line_of(marker)
    assert info.value.filename == __file__
    assert f"{__file__}:{line_of(marker)}" in str(info.value)


def test_async_generator_is_refused_with_file_and_line() -> None:
    """make_durable refuses an async generator with UnsupportedSyntaxError at the yield's line."""
    with pytest.raises(UnsupportedSyntaxError) as info:
        make_durable(an_async_generator)  # type: ignore[arg-type]
    assert (info.value.filename, info.value.lineno) == (__file__, line_of("yield"))


def test_function_without_source_is_refused() -> None:
    """make_durable of an exec'd async def, or a lambda marked as a coroutine function, raises
    NoSourceError, a DurableError."""
    namespace: dict[str, Any] = {}
    exec("async def made_by_exec():\n    return 1\n", namespace)
    with pytest.raises(NoSourceError):
        make_durable(namespace["made_by_exec"])
    marked = lambda: None  # noqa: E731
    marked.__code__ = marked.__code__.replace(
        co_flags=marked.__code__.co_flags | inspect.CO_COROUTINE
    )
    assert inspect.iscoroutinefunction(marked)
    with pytest.raises(NoSourceError):
        make_durable(marked)
    assert issubclass(NoSourceError, DurableError)


def test_plain_lambda_is_refused() -> None:
    """make_durable of a plain lambda (not a coroutine function) is refused with a TypeError."""
    with pytest.raises((TypeError, DurableError)):
        make_durable(lambda: None)  # type: ignore[arg-type]


# -- tracebacks -------------------------------------------------------------------------------


def user_frames(error: BaseException) -> list[tuple[str, int, str]]:
    return [
        (f.filename, f.lineno, f.name)
        for f in traceback.extract_tb(error.__traceback__)
        if f.filename == __file__
    ]


async def test_traceback_after_resume_points_at_user_code(disk: DurableBackend) -> None:
    """An exception raised after a resume has a traceback whose innermost frame is the user's
    raise, in the user's file, at the right line."""
    await pause_of(durable_fails(3, orchestration_backend=disk, instance_id="tb"))
    disk.publish_event("tb", "go")
    with pytest.raises(ValueError, match="bad 3") as info:
        await durable_fails(3, orchestration_backend=disk, instance_id="tb")
    last = traceback.extract_tb(info.value.__traceback__)[-1]
    assert (last.filename, last.lineno, last.name) == (
        __file__,
        line_of("fails-raise"),
        "fails_after_resume",
    )
    assert "raise ValueError" in (last.line or "")


async def test_traceback_through_nested_call_after_resume(disk: DurableBackend) -> None:
    """An exception raised in a resumed nested durable call shows both the caller's call line and
    the callee's raise line."""
    await pause_of(durable_calls_failing(4, orchestration_backend=disk, instance_id="tb2"))
    disk.publish_event("tb2", "go")
    with pytest.raises(ValueError, match="bad 4") as info:
        await durable_calls_failing(4, orchestration_backend=disk, instance_id="tb2")
    frames = user_frames(info.value)
    assert (__file__, line_of("calls-failing"), "calls_failing") in frames
    assert frames[-1] == (__file__, line_of("fails-raise"), "fails_after_resume")
    assert EFFECTS == ["before"]
