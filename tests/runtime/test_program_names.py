"""Stable program names: a script's instances are found by a process that imports the script.

Scripts run as real processes (``python path/to/script.py``, ``python -m pkg.mod``): the name
a program is saved under must not depend on how its module was run. tests/programs/orders.py
starts instances as a script; this process imports it as ``programs.orders`` and resumes
them. Instances saved under ``__main__:`` names (as older versions saved every script) are
re-homed with `durable.rehome`.
"""

from __future__ import annotations

import json
import os
import pathlib
import runpy
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from programs import orders

import durable
from durable import (
    DurableBackend,
    InstanceNotFoundError,
    SQLiteStateStore,
    StateStore,
    Worker,
    make_durable,
    rehome,
)
from durable.testing import capture_events

REPO = pathlib.Path(__file__).resolve().parents[2]
ORDERS = REPO / "tests" / "programs" / "orders.py"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
STABLE = "programs.orders:_fulfil"

NAMING_SCRIPT = """\
import json
import durable
from durable.testing import capture_events

async def work(n: int) -> int:
    return n

with capture_events() as events:
    program = durable.make_durable(work)
print(json.dumps({"name": program.name, "events": [e["event"] for e in events]}))
"""


def run(*args: str | pathlib.Path, cwd: pathlib.Path | None = None) -> dict[str, Any]:
    """Run ``python ARGS`` in a fresh process; its one line of JSON output."""
    done = subprocess.run(
        [sys.executable, *map(str, args)],
        env=ENV,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def script(path: pathlib.Path) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(NAMING_SCRIPT)
    return path


# ------------------------------------------------------------------------------------------
# how a script's name is derived
# ------------------------------------------------------------------------------------------


def test_a_plain_script_is_named_by_its_file(tmp_path: pathlib.Path) -> None:
    out = run(script(tmp_path / "shop.py"))
    assert out == {"name": "shop:work", "events": []}


def test_a_linked_script_is_named_by_the_file_python_runs(tmp_path: pathlib.Path) -> None:
    target = script(tmp_path / "real" / "shop.py")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "run-shop.py").symlink_to(target)
    assert run(tmp_path / "bin" / "run-shop.py") == {"name": "shop:work", "events": []}


def test_a_script_in_a_package_folder_is_named_by_its_package(tmp_path: pathlib.Path) -> None:
    (tmp_path / "myapp" / "flows").mkdir(parents=True)
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "flows" / "__init__.py").write_text("")
    out = run(script(tmp_path / "myapp" / "flows" / "shop.py"))
    assert out == {"name": "myapp.flows.shop:work", "events": []}


def test_python_dash_m_uses_the_module_name(tmp_path: pathlib.Path) -> None:
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    script(tmp_path / "myapp" / "shop.py")
    out = run("-m", "myapp.shop", cwd=tmp_path)
    assert out == {"name": "myapp.shop:work", "events": []}


def test_a_script_without_an_importable_name_keeps_main_and_warns(
    tmp_path: pathlib.Path,
) -> None:
    out = run(script(tmp_path / "my-shop.py"))
    assert out == {"name": "__main__:work", "events": ["program.unstable_name"]}


# ------------------------------------------------------------------------------------------
# name=
# ------------------------------------------------------------------------------------------


async def _named(n: int) -> int:
    return n


def test_an_explicit_name_wins() -> None:
    with capture_events() as events:
        program = make_durable(_named, name="orders.fulfil")
        other = durable.DurableProgram(_named, name="shop:named")
    assert (program.name, other.name) == ("orders.fulfil", "shop:named")
    assert events == []
    assert make_durable(_named).name == f"{__name__}:_named"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        (42, TypeError),
        (b"orders", TypeError),
        ("", ValueError),
        ("orders fulfil", ValueError),
        (" orders", ValueError),
        ("orders\n", ValueError),
    ],
)
def test_a_bad_name_is_refused(name: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="name"):
        make_durable(_named, name=name)


async def test_an_explicit_name_is_what_the_store_and_the_worker_use() -> None:
    store = durable.InMemoryStateStore()
    backend = DurableBackend(store)
    program = make_durable(orders._fulfil, name="orders.fulfil")
    with pytest.raises(durable.Suspended):
        await program("widget", 2, orchestration_backend=backend, instance_id="named")
    assert store.read("named").header.program == "orders.fulfil"  # type: ignore[union-attr]
    await backend.publish("named", "paid", "cash")
    async with Worker(backend, programs=[program]) as worker:
        result = await (await worker.resume("named")).result()
    assert (result["order"], result["paid"]) == (orders.Order("widget", 2), "cash")


# ------------------------------------------------------------------------------------------
# across processes: started by `python orders.py`, resumed by `import programs.orders`
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """An SQLite store where a script run as ``python orders.py`` started four instances."""
    path = tmp_path_factory.mktemp("names") / "orders.db"
    ids = [f"{way}-{loop}" for way in ("worker", "seed") for loop in ("asyncio", "trio")]
    assert run(ORDERS, path, "start", *ids) == {"program": STABLE}
    return path


async def test_a_worker_that_imports_the_script_resumes_its_instance(
    started: pathlib.Path, anyio_backend_name: str
) -> None:
    instance_id = f"worker-{anyio_backend_name}"
    store = SQLiteStateStore(started)
    try:
        stored = store.read(instance_id)
        assert stored.header is not None and stored.header.program == STABLE == orders.fulfil.name
        assert stored.data is not None and b"__main__" not in stored.data
        backend = DurableBackend(store)
        await backend.publish(instance_id, "paid", "card")
        async with Worker(backend, programs=[orders.fulfil]) as worker:
            result = await (await worker.resume(instance_id)).result()
    finally:
        store.close()
    # The script's classes and nested function, saved there, are this process's module's.
    assert type(result["order"]) is orders.Order and type(result["receipt"]) is orders.Receipt
    assert (result["order"].qty, result["receipt"].total, result["paid"]) == (3, 30, "card")
    assert result["price"](4) == 40


async def test_the_seed_call_resumes_the_scripts_instance(
    started: pathlib.Path, anyio_backend_name: str
) -> None:
    instance_id = f"seed-{anyio_backend_name}"
    store = SQLiteStateStore(started)
    try:
        backend = DurableBackend(store)
        backend.publish_event(instance_id, "paid", "cash")
        result = await orders.fulfil(
            "widget", 3, orchestration_backend=backend, instance_id=instance_id
        )
    finally:
        store.close()
    assert result["order"] == orders.Order("widget", 3)
    assert result["receipt"] == orders.Receipt(item="widget", total=30)


def test_the_script_decodes_its_own_classes_as_its_main_classes(tmp_path: pathlib.Path) -> None:
    """In the process that runs orders.py as __main__, `programs.orders:Order` is that
    __main__ class: no second copy of the module is imported."""
    out = run(ORDERS, tmp_path / "own.db", "roundtrip", "own")
    assert out == {"program": STABLE, "own_classes": True, "result": [3, 30, "card"]}


# ------------------------------------------------------------------------------------------
# rehome: instances saved under __main__ names
# ------------------------------------------------------------------------------------------

MAIN_NAMES = {
    "__main__:_fulfil": STABLE,
    "__main__:Order": "programs.orders:Order",
    "__main__:Receipt": "programs.orders:Receipt",
}


def legacy(store: StateStore, tmp_path: pathlib.Path, instance_id: str = "legacy") -> bytes:
    """Start `instance_id` as a script run as __main__ whose name cannot be derived."""
    with capture_events() as events:
        orders.start_as_legacy_main(store, instance_id, tmp_path)
    assert "program.unstable_name" in [e["event"] for e in events]
    data = store.read(instance_id).data
    assert data is not None
    assert all(name.encode() in data for name in MAIN_NAMES)
    return data


def test_rehome_dry_run_writes_nothing(store: StateStore, tmp_path: pathlib.Path) -> None:
    before = legacy(store, tmp_path)
    history = store.read_history("legacy")
    done = rehome(store, "legacy", module="programs.orders", dry_run=True)
    assert (done.renamed, done.seq) == (MAIN_NAMES, None)
    assert store.read("legacy").data == before
    assert store.read_history("legacy") == history
    backend = DurableBackend(store)
    with pytest.raises(
        durable.IncompatibleSnapshotError, match=r"rehome --module programs\.orders"
    ):
        anyio.run(lambda: orders.fulfil.resume(orchestration_backend=backend, instance_id="legacy"))


def test_rehome_then_a_worker_that_imports_the_module_resumes_it(
    store: StateStore, tmp_path: pathlib.Path
) -> None:
    legacy(store, tmp_path)
    seq = store.read("legacy").seq
    assert seq is not None
    done = rehome(store, "legacy", module="programs.orders")
    assert (done.renamed, done.seq) == (MAIN_NAMES, seq + 1)
    stored = store.read("legacy")
    assert stored.data is not None and b"__main__" not in stored.data
    assert stored.header is not None and (stored.header.program, stored.header.seq) == (
        STABLE,
        seq + 1,
    )
    entry = json.loads(store.read_history("legacy")[-1])
    assert (entry["kind"], entry["from"], entry["to"]) == (
        "instance.rehomed",
        "__main__",
        "programs.orders",
    )

    async def finish() -> dict[str, Any]:
        backend = DurableBackend(store)
        await backend.publish("legacy", "paid", "card")
        async with Worker(backend, programs=[orders.fulfil]) as worker:
            result: dict[str, Any] = await (await worker.resume("legacy")).result()
        return result

    result = anyio.run(finish)
    assert type(result["order"]) is orders.Order and result["receipt"].total == 30
    assert result["price"](1) == 10


def test_rehome_twice_is_a_no_op(store: StateStore, tmp_path: pathlib.Path) -> None:
    legacy(store, tmp_path)
    rehome(store, "legacy", module="programs.orders")
    after, history = store.read("legacy").data, store.read_history("legacy")
    again = rehome(store, "legacy", module="programs.orders")
    assert (again.renamed, again.seq) == ({}, None)
    assert (store.read("legacy").data, store.read_history("legacy")) == (after, history)


def test_rehome_of_a_missing_instance_or_to_a_bad_module_is_refused(store: StateStore) -> None:
    with pytest.raises(InstanceNotFoundError, match="'nobody' has no saved state"):
        rehome(store, "nobody", module="orders")
    for module in ("", "__main__", "my-orders", "orders.", "class"):
        with pytest.raises(ValueError, match="importable"):
            rehome(store, "nobody", module=module)


def test_a_leased_instance_is_not_rehomed(store: StateStore, tmp_path: pathlib.Path) -> None:
    before = legacy(store, tmp_path)
    now = datetime.now(UTC)
    assert store.claim("legacy", "worker-7", now, now + timedelta(hours=1))
    for dry_run in (True, False):
        with pytest.raises(durable.InstanceLeasedError, match="worker-7"):
            rehome(store, "legacy", module="programs.orders", dry_run=dry_run)
    assert store.read("legacy").data == before
    lease = store.lease("legacy")
    assert lease is not None and lease.owner == "worker-7"  # not taken from its holder
    store.release("legacy", "worker-7")
    assert rehome(store, "legacy", module="programs.orders").seq is not None
    assert store.lease("legacy") is None  # rehome gave back the lease it held


def test_rehome_leaves_user_strings_alone(tmp_path: pathlib.Path) -> None:
    """Only references are renamed: a saved string that happens to say "__main__:" stays."""
    store = durable.InMemoryStateStore()
    source = textwrap.dedent(
        """
        import durable
        async def keep(note: str) -> str:
            await durable.wait_for_event("go")
            return note
        program = durable.make_durable(keep)
        """
    )
    path = tmp_path / "legacy-keep.py"
    path.write_text(source)
    program = runpy.run_path(str(path), run_name="__main__")["program"]
    assert program.name == "__main__:keep"

    async def start() -> None:
        with pytest.raises(durable.Suspended):
            backend = DurableBackend(store)
            await program("__main__:keep", orchestration_backend=backend, instance_id="k")

    anyio.run(start)
    done = rehome(store, "k", module="keep")
    assert done.renamed == {"__main__:keep": "keep:keep"}
    data = store.read("k").data
    assert data is not None and data.count(b"__main__:keep") == 1
