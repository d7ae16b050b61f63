"""The ``durable`` command line, run as a real subprocess against a real DiskStateStore.

The store holds a paused, a completed and a failed instance of `checkout`, made through the
public API in this process. The subprocess imports this module (``--import``) to decode the
`Order` dataclass and `Colour` enum saved in them.
"""

from __future__ import annotations

import enum
import json
import os
import pathlib
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

import durable
from durable import (
    DiskStateStore,
    DurableBackend,
    PauseForEventException,
    SQLiteStateStore,
    StateStore,
    make_durable,
)

HERE = pathlib.Path(__file__).resolve().parent
ENV = {
    **{k: v for k, v in os.environ.items() if k != "DURABLE_STORE"},
    "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent)]),
}
SELF = ("--import", __name__)  # lets the subprocess decode Order and Colour


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Order:
    sku: str
    qty: int
    colour: Colour


async def _reserve(order: Order) -> int:
    if order.qty <= 0:
        raise ValueError(f"cannot reserve {order.qty} of {order.sku}")
    raise PauseForEventException("approve")  # the pause
    return order.qty * 10


async def _checkout(order: Order, customer: str) -> str:
    total = await reserve(order)
    return f"{customer} pays {total} for {order.sku}"


reserve = make_durable(_reserve)
checkout = make_durable(_checkout)

PAUSE_LINE = next(
    n
    for n, line in enumerate(pathlib.Path(__file__).read_text().splitlines(), 1)
    if line.endswith("# the pause")
)


async def _start(store: StateStore, instance_id: str, qty: int) -> Any:
    """Call the instance once; returns its result, the pause or the exception it raised."""
    order = Order("widget", qty, Colour.RED)
    try:
        return await checkout(
            order, "Ada", orchestration_backend=DurableBackend(store), instance_id=instance_id
        )
    except (PauseForEventException, ValueError) as e:
        return e


async def _populate(path: pathlib.Path) -> None:
    store = DiskStateStore(path)
    assert isinstance(await _start(store, "paused-1", 3), PauseForEventException)
    DurableBackend(store).publish_event("done-1", "approve")  # early: it runs straight through
    assert await _start(store, "done-1", 2) == "Ada pays 20 for widget"
    assert isinstance(await _start(store, "failed-1", 0), ValueError)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("cli") / "store"
    anyio.run(_populate, path)
    return path


def cli(
    *args: str | pathlib.Path, env: dict[str, str] | None = None, cwd: pathlib.Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m durable ARGS``."""
    return subprocess.run(
        [sys.executable, "-m", "durable", *map(str, args)],
        env=ENV if env is None else env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(*args: str | pathlib.Path) -> str:
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def failure(*args: str | pathlib.Path, env: dict[str, str] | None = None) -> str:
    """Run a command that must fail: non-zero exit, one line on stderr, no traceback."""
    done = cli(*args, env=env)
    assert done.returncode != 0
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("durable: error: ")
    return lines[0]


# ------------------------------------------------------------------------------------------
# list
# ------------------------------------------------------------------------------------------


def test_list_is_an_aligned_table(store_dir: pathlib.Path) -> None:
    lines = ok("--store", store_dir, "list").splitlines()
    assert lines[0].split() == ["ID", "STATUS", "PROGRAM", "WAITING", "FOR", "SEQ", "UPDATED"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"paused-1", "done-1", "failed-1"}
    program = f"{__name__}:_checkout"
    assert rows["paused-1"].split()[1:5] == ["paused", program, "event", "'approve'"]
    assert rows["done-1"].split()[1] == "completed"
    assert rows["failed-1"].split()[1] == "failed"
    for column in ("STATUS", "PROGRAM", "SEQ", "UPDATED"):
        start = lines[0].index(column)
        assert all(line[start - 2 : start] == "  " and line[start] != " " for line in lines[1:])


def test_list_json_and_status_filter(store_dir: pathlib.Path) -> None:
    everything = json.loads(ok("--store", store_dir, "list", "--json"))
    assert {e["instance_id"]: e["status"] for e in everything} == {
        "paused-1": "paused",
        "done-1": "completed",
        "failed-1": "failed",
    }
    paused = json.loads(ok("--json", "--store", store_dir, "list", "--status", "paused"))
    assert [(e["instance_id"], e["wait"]) for e in paused] == [
        ("paused-1", {"kind": "event", "name": "approve", "deadline": None})
    ]
    assert paused[0]["program"] == f"{__name__}:_checkout"
    table = ok("--store", store_dir, "list", "--status", "failed").splitlines()
    assert [line.split()[0] for line in table] == ["ID", "failed-1"]
    assert ok("--store", store_dir, "list", "--status", "running") == (
        "no instances with status running\n"
    )


def test_console_script_entry_point() -> None:
    """``durable`` (the console script) runs the same `main` as ``python -m durable``."""
    from importlib.metadata import entry_points

    from durable._cli import main

    (script,) = entry_points(group="console_scripts", name="durable")
    assert script.value == "durable._cli:main"
    assert script.load() is main


def test_store_from_environment(store_dir: pathlib.Path) -> None:
    done = cli("list", "--json", env={**ENV, "DURABLE_STORE": str(store_dir)})
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 3


# ------------------------------------------------------------------------------------------
# show
# ------------------------------------------------------------------------------------------


def test_show_paused_instance(store_dir: pathlib.Path) -> None:
    out = ok("--store", store_dir, *SELF, "show", "paused-1")
    assert "status    paused, waiting for event 'approve'" in out
    assert "inbox     (empty)" in out
    order = "Order(sku='widget', qty=3, colour=<Colour.RED: 'red'>)"
    assert f"order = {order}" in out
    assert "customer = 'Ada'" in out
    stack = out.split("call stack, root first:\n")[1].splitlines()
    assert stack[0].startswith(f"  #0 {__name__}:_checkout  ")
    inner = next(line for line in stack if line.startswith("  #1 "))
    assert inner.startswith(f"  #1 {__name__}:_reserve  ")
    assert f"test_cli.py:{PAUSE_LINE}  resume point" in inner
    assert "note:" not in out


def test_show_without_import_falls_back_to_raw_json(store_dir: pathlib.Path) -> None:
    out = ok("--store", store_dir, "show", "paused-1")
    assert f'order = (raw) {{"$t":"dataclass","cls":"{__name__}:Order"' in out
    assert "customer = 'Ada'" in out  # builtin values still decode
    assert "--import MODULE" in out


def test_show_completed_and_failed(store_dir: pathlib.Path) -> None:
    done = ok("--store", store_dir, "show", "done-1")
    assert "status    completed" in done
    assert "result    'Ada pays 20 for widget'" in done
    failed = ok("--store", store_dir, "show", "failed-1")
    assert "status    failed" in failed
    assert "error     ValueError('cannot reserve 0 of widget')" in failed


def test_show_json(store_dir: pathlib.Path) -> None:
    data = json.loads(ok("--store", store_dir, "show", "paused-1", "--json"))
    assert data["status"] == "paused"
    assert data["wait"] == {"kind": "event", "name": "approve", "deadline": None}
    assert data["inbox"] == []
    frames = data["call_stack"]["frames"]
    assert [f["function"].rsplit(":", 1)[1] for f in frames] == ["_checkout", "_reserve"]
    assert frames[1]["lineno"] == PAUSE_LINE
    root_order = frames[0]["locals"]["order"]
    assert root_order["$t"] == "dataclass"
    assert frames[1]["locals"]["order"] == {"$ref": root_order["$id"]}  # one shared object


# ------------------------------------------------------------------------------------------
# history
# ------------------------------------------------------------------------------------------


def test_history(store_dir: pathlib.Path) -> None:
    expected = DurableBackend(DiskStateStore(store_dir)).read_history("done-1")
    kinds = [entry["kind"] for entry in expected]
    assert kinds[0] == "event.published" and kinds[-1] == "instance.completed"
    assert json.loads(ok("--store", store_dir, "history", "done-1", "--json")) == expected
    lines = ok("--store", store_dir, "history", "done-1").splitlines()
    assert lines[0].split() == ["AT", "SEQ", "KIND", "FUNCTION", "POINT", "DETAILS"]
    assert [line.split()[2] for line in lines[2:]] == kinds[1:]  # oldest first
    assert "event_name=approve" in lines[1]


# ------------------------------------------------------------------------------------------
# send
# ------------------------------------------------------------------------------------------


async def test_send_then_resume_to_completion(tmp_path: pathlib.Path) -> None:
    store = DiskStateStore(tmp_path)
    assert isinstance(await _start(store, "order-7", 4), PauseForEventException)
    out = ok("--store", tmp_path, "send", "order-7", "approve")
    assert out.startswith("published 'approve' to 'order-7': the instance is waiting for it")
    shown = ok("--store", tmp_path, "show", "order-7")
    assert "inbox     approve" in shown
    assert await _start(store, "order-7", 4) == "Ada pays 40 for widget"


async def test_send_force_to_an_instance_not_started_yet(tmp_path: pathlib.Path) -> None:
    DiskStateStore(tmp_path)
    message = failure("--store", tmp_path, "send", "order-8", "approve")
    assert "no instance 'order-8'" in message and "--force" in message
    sent = json.loads(ok("--store", tmp_path, "send", "order-8", "approve", "--force", "--json"))
    assert sent == {"instance_id": "order-8", "event": "approve", "status": None}
    # the early event is kept: the first call runs straight through the pause
    assert await _start(DiskStateStore(tmp_path), "order-8", 1) == "Ada pays 10 for widget"


def test_send_to_a_finished_instance_is_refused(store_dir: pathlib.Path) -> None:
    message = failure("--store", store_dir, "send", "failed-1", "approve")
    assert "has failed" in message and "--force" in message


def test_send_prints_no_log_events(tmp_path: pathlib.Path) -> None:
    """Even when an imported module turned logging and structlog on, the CLI stays quiet."""
    (tmp_path / "noisy.py").write_text(
        "import logging, structlog\n"
        "logging.basicConfig(level=logging.DEBUG)\n"
        "structlog.configure()\n"
    )
    store = tmp_path / "store"
    store.mkdir()
    done = cli("--store", store, "--import", "noisy", "send", "x", "go", "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.count("\n") == 1 and "event.published" not in done.stdout
    assert [e["kind"] for e in DurableBackend(DiskStateStore(store)).read_history("x")] == [
        "event.published"
    ]


# ------------------------------------------------------------------------------------------
# errors: one line on stderr, non-zero exit, no traceback
# ------------------------------------------------------------------------------------------


@pytest.fixture
def corrupt_store(tmp_path: pathlib.Path) -> pathlib.Path:
    """A store with one instance whose snapshot is not JSON and one that is not a snapshot."""
    store = DiskStateStore(tmp_path)
    store.save("bad-json", b'{"instance_id": "bad-json", ')
    store.save("bad-model", json.dumps({"instance_id": "bad-model", "seq": "x"}).encode())
    return tmp_path


@pytest.mark.parametrize("command", ["list", "show x", "history x", "send x go"])
def test_missing_store_folder(tmp_path: pathlib.Path, command: str) -> None:
    message = failure("--store", tmp_path / "nowhere", *command.split())
    assert "does not exist" in message
    assert not (tmp_path / "nowhere").exists()


def test_no_store_given() -> None:
    assert "--store" in failure("list")


@pytest.mark.parametrize("command", ["show", "history", "send"])
def test_unknown_instance(store_dir: pathlib.Path, command: str) -> None:
    args = ["nobody", "approve"] if command == "send" else ["nobody"]
    assert "no instance 'nobody'" in failure("--store", store_dir, command, *args)


@pytest.mark.parametrize(
    ("instance_id", "problem"),
    [("bad-json", "is not valid JSON"), ("bad-model", "is invalid")],  # from the one reader
)
@pytest.mark.parametrize("command", ["show", "send"])
def test_corrupt_snapshot(
    corrupt_store: pathlib.Path, instance_id: str, problem: str, command: str
) -> None:
    args = [instance_id, "go"] if command == "send" else [instance_id]
    message = failure("--store", corrupt_store, command, *args)
    assert f"instance '{instance_id}': the saved state {problem}" in message


def test_list_reports_corrupt_snapshots(corrupt_store: pathlib.Path) -> None:
    done = cli("--store", corrupt_store, "list", "--json")
    assert done.returncode == 0
    entries = json.loads(done.stdout)
    assert [(e["instance_id"], e["status"]) for e in entries] == [
        ("bad-json", "corrupt"),
        ("bad-model", "corrupt"),
    ]
    table = cli("--store", corrupt_store, "list")
    assert len(table.stderr.splitlines()) == 2  # one warning per corrupt snapshot
    assert "Traceback" not in table.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["show"],
        ["send", "x"],
        ["list", "--status", "sleeping"],
        ["list", "--bogus"],
        ["--import", "no_such_module_anywhere", "list"],
    ],
    ids=[
        "no-command",
        "unknown-command",
        "show-no-id",
        "send-no-event",
        "bad-status",
        "unknown-option",
        "bad-import",
    ],
)
def test_bad_arguments(store_dir: pathlib.Path, args: list[str]) -> None:
    failure("--store", store_dir, *args)


def test_list_shows_a_damaged_journal_among_good_ones(store_dir: pathlib.Path) -> None:
    """One journal replaced by garbage: `list` still lists every instance, shows that one as
    corrupt (also under ``--status corrupt``) and leaves the file as it was."""
    journal = next(p for p in store_dir.glob("i_*.log") if p.name.startswith("i_done-1"))
    garbage = b"this is not a journal\n" * 3
    original = journal.read_bytes()
    journal.write_bytes(garbage)
    try:
        done = cli("--store", store_dir, "list", "--json")
        assert done.returncode == 0, done.stderr
        statuses = {e["instance_id"]: e["status"] for e in json.loads(done.stdout)}
        assert statuses == {"paused-1": "paused", "done-1": "corrupt", "failed-1": "failed"}
        only = json.loads(ok("--json", "--store", store_dir, "list", "--status", "corrupt"))
        assert [e["instance_id"] for e in only] == ["done-1"]
        assert "done-1" in only[0]["error"]
        assert journal.read_bytes() == garbage
    finally:
        journal.write_bytes(original)


async def _decide(claim: str) -> str:
    decision = await durable.wait_for_event("decision", timeout=3600)
    return f"{claim}: {decision['outcome']} by {decision['by']}"


decide = make_durable(_decide)


async def test_send_a_payload_and_cancel(tmp_path: pathlib.Path) -> None:
    """`send --payload` delivers JSON to the wait; `list` shows the wait with its deadline;
    `cancel` is raised at the next wait; a reserved event name is refused."""
    store = DiskStateStore(tmp_path / "store")
    backend = DurableBackend(store)
    for iid in ("claim-1", "claim-2"):
        with pytest.raises(PauseForEventException):
            await decide(iid, orchestration_backend=backend, instance_id=iid)
    rows = {r["instance_id"]: r for r in json.loads(ok("--store", store.path, "list", "--json"))}
    assert rows["claim-1"]["wait"]["name"] == "decision"
    assert rows["claim-1"]["wait"]["deadline"] is not None
    table = ok("--store", store.path, "list")
    assert "event 'decision' until" in table
    payload = '{"outcome": "approved", "by": "Grace"}'
    sent = ok("--store", store.path, "send", "claim-1", "decision", "--payload", payload)
    assert "is waiting for it" in sent
    result = await decide("x", orchestration_backend=DurableBackend(store), instance_id="claim-1")
    assert result == "claim-1: approved by Grace"
    bad = failure("--store", store.path, "send", "claim-2", "d", "--payload", "{")
    assert "not valid JSON" in bad
    assert "reserved" in failure("--store", store.path, "send", "claim-2", "durable:cancel")
    assert "cancellation recorded" in ok("--store", store.path, "cancel", "claim-2")
    with pytest.raises(durable.InstanceCancelledError):
        await decide("x", orchestration_backend=DurableBackend(store), instance_id="claim-2")
    shown = ok("--store", store.path, "show", "claim-2")
    assert "status    cancelled" in shown
    assert "has cancelled" in failure("--store", store.path, "cancel", "claim-2")


# ------------------------------------------------------------------------------------------
# rehome
# ------------------------------------------------------------------------------------------


@pytest.fixture
def legacy_db(tmp_path: pathlib.Path) -> pathlib.Path:
    """An SQLite store with two instances a script run as __main__ saved under __main__ names
    (`programs.orders`, a copy run without an importable name) and one saved by this module."""
    from programs import orders

    path = tmp_path / "app.db"
    store = SQLiteStateStore(path)
    try:
        for iid in ("old-1", "old-2"):
            orders.start_as_legacy_main(store, iid, tmp_path)
        anyio.run(_start, store, "modern", 2)
    finally:
        store.close()
    return path


def _snapshots(path: pathlib.Path) -> dict[str, bytes | None]:
    store = SQLiteStateStore(path)
    try:
        return {iid: store.read(iid).data for iid in store.list_instances()}
    finally:
        store.close()


def test_rehome_dry_run_prints_and_writes_nothing(legacy_db: pathlib.Path) -> None:
    before = _snapshots(legacy_db)
    out = ok("--store", legacy_db, "rehome", "--module", "programs.orders", "old-1", "--dry-run")
    assert out == (
        "'old-1': __main__:_fulfil -> programs.orders:_fulfil, __main__:Order -> "
        "programs.orders:Order, __main__:Receipt -> programs.orders:Receipt "
        "(dry run: nothing written)\n"
    )
    assert _snapshots(legacy_db) == before


def test_rehome_all_then_again_is_a_no_op(legacy_db: pathlib.Path) -> None:
    before = _snapshots(legacy_db)
    done = json.loads(ok("--store", legacy_db, "--json", "rehome", "--all", "--module", "orders"))
    assert [(r["instance_id"], r["seq"]) for r in done] == [("old-1", 3), ("old-2", 3)]
    assert done[0]["renamed"]["__main__:_fulfil"] == "orders:_fulfil"
    after = _snapshots(legacy_db)
    assert all(b"__main__" not in data for data in after.values() if data is not None)
    assert after["modern"] == before["modern"]
    assert ok("--store", legacy_db, "rehome", "--all", "--module", "orders") == (
        "no instance names __main__: nothing to rehome\n"
    )
    assert ok("--store", legacy_db, "rehome", "old-2", "--module", "orders") == (
        "'old-2': nothing names __main__; unchanged\n"
    )
    assert _snapshots(legacy_db) == after
    history = json.loads(ok("--store", legacy_db, "--json", "history", "old-1"))
    assert [
        (e["kind"], e["from"], e["to"]) for e in history if e["kind"] == "instance.rehomed"
    ] == [("instance.rehomed", "__main__", "orders")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rehome", "nobody", "--module", "orders"], "'nobody' has no saved state"),
        (["rehome", "--module", "orders"], "name the instances to rehome, or pass --all"),
        (["rehome", "--all", "old-1", "--module", "orders"], "not both"),
        (["rehome", "old-1", "--module", "my-orders"], "not an importable module name"),
        (["rehome", "old-1"], "--module"),
    ],
)
def test_rehome_refusals(legacy_db: pathlib.Path, args: list[str], message: str) -> None:
    before = _snapshots(legacy_db)
    assert message in failure("--store", legacy_db, *args)
    assert _snapshots(legacy_db) == before
