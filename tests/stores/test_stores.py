"""Tests of the state stores: the shared contract on both stores, then disk specifics.

Contract tests take the ``store`` fixture, parametrized over `InMemoryStateStore` and
`DiskStateStore`; tests of files, processes and crashes take ``disk_store`` only.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import durable.stores._contract as contract_module
import durable.stores._disk as stores_module
from durable.errors import InvalidInstanceIdError, StoreError
from durable.stores import DiskStateStore, InMemoryStateStore, StateStore, new_event_id

HOSTILE_IDS = [
    "",
    "../x",
    "../../../../../../tmp/escaped",
    "/abs",
    "/",
    "\\",
    "..\\x",
    "C:\\x",
    "a\x00b",
    "a/b",
    "a_b",
    "a%2Fb",
    "..",
    ".",
    "CON",
    "con",
    "nul.txt",
    "x" * 10_000,
    "x" * 10_001,
    "é" * 200,
    "\ud800",
    "\udfff\ud800",
    "\ud83d\ude00",  # two lone surrogates: a different id than the emoji below
    "\U0001f600",
    "A",
    "a",
    " a ",
    "a.",
    "a\n",
    "x.json",
    "x.inbox",
    ".tmp-x.tmp",
]


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("disk", id="disk"),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[StateStore]:
    made: StateStore = (
        InMemoryStateStore() if request.param == "memory" else DiskStateStore(tmp_path / "store")
    )
    yield made
    made.close()


@pytest.fixture
def disk_store(tmp_path: pathlib.Path) -> DiskStateStore:
    return DiskStateStore(tmp_path / "store")


def files_under(folder: pathlib.Path) -> set[pathlib.Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------------------
# Snapshots
# ------------------------------------------------------------------------------------------


def test_load_of_missing_instance_is_none(store: StateStore) -> None:
    assert store.load("nobody") is None


def test_save_load_round_trip_with_arbitrary_bytes(store: StateStore) -> None:
    data = bytes(range(256)) * 3 + b"\n\r\n\x00"
    store.save("inst", data)
    assert store.load("inst") == data
    store.save("empty", b"")
    assert store.load("empty") == b""


def test_save_overwrites(store: StateStore) -> None:
    store.save("inst", b'{"v": 1}')
    store.save("inst", b'{"v": 2}')
    assert store.load("inst") == b'{"v": 2}'


def test_instances_are_isolated(store: StateStore) -> None:
    store.save("one", b"1")
    store.save("two", b"2")
    store.add_event("one", "e1", b"event")
    store.append_history("one", b'"h"')
    assert store.load("one") == b"1"
    assert store.load("two") == b"2"
    assert store.list_events("two") == []
    assert store.read_history("two") == []


def test_save_keeps_a_copy(store: StateStore) -> None:
    data = bytearray(b"original")
    store.save("inst", data)  # type: ignore[arg-type]  # bytes-like is accepted too
    data[:] = b"mutated!"
    assert store.load("inst") == b"original"
    event = bytearray(b"event")
    store.add_event("inst", "e", event)  # type: ignore[arg-type]
    event[:] = b"EVENT"
    assert store.list_events("inst") == [("e", b"event")]


def test_save_rejects_non_bytes(store: StateStore) -> None:
    with pytest.raises(TypeError):
        store.save("inst", 5)  # type: ignore[arg-type]  # bytes(5) would be five zeros
    with pytest.raises(TypeError):
        store.save("inst", "text")  # type: ignore[arg-type]
    assert store.load("inst") is None


def test_list_instances(store: StateStore) -> None:
    assert store.list_instances() == []
    for instance_id in ["b", "a", "B", "", "x" * 10_000]:
        store.save(instance_id, b"{}")
    store.save("a", b"again")
    store.add_event("events-only", "e", b"")  # an inbox or history alone is no instance
    store.append_history("history-only", b"1")
    assert store.list_instances() == sorted(["b", "a", "B", "", "x" * 10_000])


# ------------------------------------------------------------------------------------------
# Instance ids
# ------------------------------------------------------------------------------------------


def test_hostile_ids_round_trip_distinctly(store: StateStore) -> None:
    assert len(set(HOSTILE_IDS)) == len(HOSTILE_IDS)
    for n, instance_id in enumerate(HOSTILE_IDS):
        store.save(instance_id, b"snapshot %d" % n)
        store.add_event(instance_id, "e", b"event %d" % n)
        store.append_history(instance_id, b"history %d" % n)
    for n, instance_id in enumerate(HOSTILE_IDS):
        assert store.load(instance_id) == b"snapshot %d" % n, repr(instance_id)
        assert store.list_events(instance_id) == [("e", b"event %d" % n)]
        assert store.read_history(instance_id) == [b"history %d" % n]
    assert store.list_instances() == sorted(HOSTILE_IDS)
    for instance_id in HOSTILE_IDS:
        store.delete_events(instance_id, ["e"])
        assert store.list_events(instance_id) == []


def test_hostile_ids_stay_inside_the_folder(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "parent" / "store"
    disk = DiskStateStore(root)
    for n, instance_id in enumerate(HOSTILE_IDS):
        disk.save(instance_id, b"%d" % n)
        disk.add_event(instance_id, instance_id, b"%d" % n)  # hostile event ids too
        disk.append_history(instance_id, b"%d" % n)
        assert disk.list_events(instance_id) == [(instance_id, b"%d" % n)]
    everything = {p for p in tmp_path.rglob("*")}
    assert everything, "nothing was written"
    for path in everything:
        assert path == root.parent or root in path.parents or path == root, path
    assert not pathlib.Path("/abs").exists()
    # The whole store has one journal per id, and names differ even ignoring case.
    names = [p.name for p in root.iterdir() if p.suffix == ".log"]
    assert len(names) == len(HOSTILE_IDS)
    assert len({name.lower() for name in names}) == len(names)
    assert all(len(name.encode()) <= 200 for name in os.listdir(root))


@pytest.mark.parametrize("bad", [None, 1, 1.5, b"bytes", ["a"], ("a",), object()])
def test_non_str_ids_are_rejected(store: StateStore, bad: object) -> None:
    calls: list[Callable[[Any], object]] = [
        lambda i: store.load(i),
        lambda i: store.save(i, b"x"),
        lambda i: store.add_event(i, "e", b"x"),
        lambda i: store.list_events(i),
        lambda i: store.delete_events(i, ["e"]),
        lambda i: store.append_history(i, b"x"),
        lambda i: store.read_history(i),
    ]
    for call in calls:
        with pytest.raises(InvalidInstanceIdError) as info:
            call(bad)
        assert repr(bad)[:20] in str(info.value)
        assert type(bad).__qualname__ in str(info.value)
    assert store.list_instances() == []


_ANY_CHAR = st.one_of(
    st.characters(),  # every code point, surrogates included (rarely)
    st.characters(categories=["Cs"]),  # lone surrogates, often
    st.sampled_from("Aa.%/\\\x00_-:"),
)
_ANY_ID = st.one_of(st.text(_ANY_CHAR), st.text(_ANY_CHAR, min_size=1).map(lambda s: s * 60))


def test_any_text_id_round_trips_to_its_own_storage(store: StateStore) -> None:
    saved: dict[str, bytes] = {}

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(instance_id=_ANY_ID)
    def check(instance_id: str) -> None:
        data = b"%d" % len(saved)
        store.save(instance_id, data)
        saved[instance_id] = data
        assert store.load(instance_id) == data
        assert store.list_instances() == sorted(saved)
        if isinstance(store, DiskStateStore):  # one distinct file per id, case-insensitively
            names = [p.name for p in store.path.iterdir() if p.suffix == ".log"]
            assert len(names) == len(saved)
            assert len({name.lower() for name in names}) == len(names)

    check()
    for instance_id, data in saved.items():
        assert store.load(instance_id) == data


# ------------------------------------------------------------------------------------------
# Events
# ------------------------------------------------------------------------------------------


def test_events_add_list_delete(store: StateStore) -> None:
    assert store.list_events("inst") == []
    store.add_event("inst", "0002", b"second")
    store.add_event("inst", "0001", b"first")
    store.add_event("inst", "0003", b"\x00\xff")
    assert store.list_events("inst") == [
        ("0001", b"first"),
        ("0002", b"second"),
        ("0003", b"\x00\xff"),
    ]
    store.delete_events("inst", ["0001", "0003"])
    assert store.list_events("inst") == [("0002", b"second")]


def test_adding_an_existing_event_id_replaces_it(store: StateStore) -> None:
    store.add_event("inst", "e", b"old")
    store.add_event("inst", "e", b"new")
    assert store.list_events("inst") == [("e", b"new")]


def test_deleting_missing_events_is_fine(store: StateStore) -> None:
    store.delete_events("never-had-events", ["nope"])
    store.add_event("inst", "e1", b"x")
    store.delete_events("inst", ["nope", "e1", "e1"])
    store.delete_events("inst", [])
    assert store.list_events("inst") == []


def test_events_are_isolated_between_instances(store: StateStore) -> None:
    store.add_event("one", "e", b"for one")
    store.add_event("two", "e", b"for two")
    store.delete_events("one", ["e"])
    assert store.list_events("one") == []
    assert store.list_events("two") == [("e", b"for two")]


def test_events_do_not_touch_the_snapshot(store: StateStore) -> None:
    store.save("inst", b"snap")
    store.add_event("inst", "e", b"event")
    assert store.load("inst") == b"snap"
    store.save("inst", b"snap 2")
    assert store.list_events("inst") == [("e", b"event")]


def test_odd_event_ids_round_trip(store: StateStore) -> None:
    odd = ["", "../e", "E", "e", "x" * 500, "\ud800", "a/b"]
    for n, event_id in enumerate(odd):
        store.add_event("inst", event_id, b"%d" % n)
    assert store.list_events("inst") == sorted((e, b"%d" % n) for n, e in enumerate(odd))
    store.delete_events("inst", odd)
    assert store.list_events("inst") == []


def test_new_event_ids_list_in_publication_order(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [new_event_id() for _ in range(200)]
    # A clock that stands still, then steps back, must not break the order.
    frozen = types.SimpleNamespace(time_ns=lambda: 1_000)
    monkeypatch.setattr(contract_module, "time", frozen)
    ids += [new_event_id() for _ in range(50)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    for n, event_id in enumerate(ids):
        store.add_event("inst", event_id, b"%d" % n)
    assert [data for _, data in store.list_events("inst")] == [b"%d" % n for n in range(250)]


# ------------------------------------------------------------------------------------------
# History
# ------------------------------------------------------------------------------------------


def test_history_append_and_read_in_order(store: StateStore) -> None:
    assert store.read_history("inst") == []
    entries = [b'{"n": %d}' % n for n in range(20)] + [b"", b"\x00\xff\r"]
    for entry in entries:
        store.append_history("inst", entry)
    assert store.read_history("inst") == entries
    store.save("inst", b"snapshot")  # a checkpoint leaves the history alone
    assert store.read_history("inst") == entries


def test_history_entries_must_be_single_lines(store: StateStore) -> None:
    with pytest.raises(ValueError, match="newline"):
        store.append_history("inst", b'{"a":\n1}')
    assert store.read_history("inst") == []


# ------------------------------------------------------------------------------------------
# Default implementations (a user's store with only load/save)
# ------------------------------------------------------------------------------------------


class LoadSaveOnlyStore(StateStore):
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def load(self, instance_id: str) -> bytes | None:
        return self.data.get(instance_id)

    def save(self, instance_id: str, data: bytes) -> None:
        self.data[instance_id] = bytes(data)


def test_default_inbox_and_history_use_derived_keys() -> None:
    user_store = LoadSaveOnlyStore()
    user_store.save("inst", b"snap")
    user_store.add_event("inst", "2", b"b")
    user_store.add_event("inst", "1", b"\x00a")
    user_store.delete_events("inst", ["2", "missing"])
    user_store.append_history("inst", b"h1")
    user_store.append_history("inst", b"h2")
    assert user_store.list_events("inst") == [("1", b"\x00a")]
    assert user_store.read_history("inst") == [b"h1", b"h2"]
    assert user_store.load("inst") == b"snap"
    assert set(user_store.data) == {"inst", "inst\x00inbox", "inst\x00history"}
    with pytest.raises(InvalidInstanceIdError):
        user_store.add_event(3, "e", b"")  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError):
        user_store.list_instances()
    user_store.close()


# ------------------------------------------------------------------------------------------
# Disk only: files, processes, crashes
# ------------------------------------------------------------------------------------------


def test_a_fresh_store_on_the_same_folder_sees_everything(disk_store: DiskStateStore) -> None:
    long_id = "é" * 500
    for instance_id in ["a", long_id]:
        disk_store.save(instance_id, b"snap")
        disk_store.add_event(instance_id, "e1", b"ev")
        disk_store.append_history(instance_id, b"h")
    disk_store.close()

    reopened = DiskStateStore(str(disk_store.path))  # as a new process would
    assert reopened.path == disk_store.path
    assert reopened.list_instances() == sorted(["a", long_id])
    for instance_id in ["a", long_id]:
        assert reopened.load(instance_id) == b"snap"
        assert reopened.list_events(instance_id) == [("e1", b"ev")]
        assert reopened.read_history(instance_id) == [b"h"]


def test_path_is_read_only_and_created_with_parents(tmp_path: pathlib.Path) -> None:
    disk = DiskStateStore(tmp_path / "a" / "b" / "c")
    assert disk.path == tmp_path / "a" / "b" / "c"
    assert disk.path.is_dir()
    with pytest.raises(AttributeError):
        disk.path = tmp_path  # type: ignore[misc]


def test_torn_history_line_is_ignored(disk_store: DiskStateStore) -> None:
    disk_store.append_history("inst", b'{"n": 1}')
    disk_store.append_history("inst", b'{"n": 2}')
    (history,) = disk_store.path.glob("*.history")
    with open(history, "ab") as file:  # a crash in the middle of the third append
        file.write(b'0badc0de {"n": ')
    assert disk_store.read_history("inst") == [b'{"n": 1}', b'{"n": 2}']
    # The next append must not be glued to the torn fragment.
    disk_store.append_history("inst", b'{"n": 3}')
    assert disk_store.read_history("inst") == [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']


def test_corrupt_history_lines_are_skipped(disk_store: DiskStateStore) -> None:
    disk_store.append_history("inst", b"1")
    (history,) = disk_store.path.glob("*.history")
    with open(history, "ab") as file:
        file.write(b"garbage\n\n12345678 wrong checksum\n")
    disk_store.append_history("inst", b"2")
    assert disk_store.read_history("inst") == [b"1", b"2"]


def test_leftover_temp_files_are_ignored(disk_store: DiskStateStore) -> None:
    disk_store.save("inst", b"good")
    disk_store.add_event("inst", "e", b"event")
    # what a crash between mkstemp and rename (of a journal rewrite) leaves
    (disk_store.path / ".tmp-crashed.tmp").write_bytes(b"torn sna")
    (disk_store.path / "i_inst.log.tmp").write_bytes(b"torn")
    assert disk_store.load("inst") == b"good"
    assert disk_store.list_instances() == ["inst"]
    assert disk_store.list_events("inst") == [("e", b"event")]
    assert DiskStateStore(disk_store.path).list_instances() == ["inst"]


def test_stale_temp_files_are_swept(disk_store: DiskStateStore) -> None:
    disk_store.add_event("inst", "e", b"event")
    old = time.time() - 2 * 3600
    stale = [disk_store.path / ".tmp-old.tmp"]
    fresh = [disk_store.path / ".tmp-new.tmp"]
    for path in stale + fresh:
        path.write_bytes(b"x")
    for path in stale:
        os.utime(path, (old, old))
    DiskStateStore(disk_store.path)
    assert [p.exists() for p in stale] == [False]
    assert [p.exists() for p in fresh] == [True]  # may be a write in progress
    assert disk_store.list_events("inst") == [("e", b"event")]


def test_no_temp_file_remains_after_writes(disk_store: DiskStateStore) -> None:
    for n in range(5):
        disk_store.save("inst", b"%d" % n)
        disk_store.add_event("inst", f"e{n}", b"")
    assert not [p for p in files_under(disk_store.path) if p.name.endswith(".tmp")]


def test_hashed_names_carry_the_id(disk_store: DiskStateStore) -> None:
    long_id = "Z" * 100  # 300 encoded characters: too long for a file name
    disk_store.save(long_id, b"payload\nwith newline")
    (journal,) = disk_store.path.glob("*.log")
    assert journal.name.startswith("h_")
    assert disk_store.load(long_id) == b"payload\nwith newline"
    assert disk_store.list_instances() == [long_id]


def test_snapshot_file_names_follow_the_encoding(disk_store: DiskStateStore) -> None:
    disk_store.save("order-42_x", b"")
    disk_store.save("A/é", b"")
    disk_store.save("", b"")
    names = sorted(p.name for p in disk_store.path.glob("*.log"))
    assert names == ["i_%41%2F%C3%A9.log", "i_.log", "i_order-42_x.log"]


_SAVER = """
import pathlib, sys
from durable.stores import DiskStateStore
store = DiskStateStore(sys.argv[1])
stop = pathlib.Path(sys.argv[2])
print("ready", flush=True)
n = 0
while not stop.exists() or n < 20:
    n += 1
    store.save("shared", b'{"n": %d}' % n + b" " * 5000)
print(n, flush=True)
"""


def test_events_published_while_another_process_saves_are_kept(
    disk_store: DiskStateStore, tmp_path: pathlib.Path
) -> None:
    stop = tmp_path / "stop"
    package_root = pathlib.Path(stores_module.__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    with subprocess.Popen(
        [sys.executable, "-c", _SAVER, str(disk_store.path), str(stop)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    ) as saver:
        assert saver.stdout is not None
        assert saver.stdout.readline().strip() == "ready"
        published = []
        for n in range(200):
            event_id = new_event_id()
            disk_store.add_event("shared", event_id, b"%d" % n)
            published.append((event_id, b"%d" % n))
        stop.touch()
        saves = int(saver.stdout.readline())
        assert saver.wait(timeout=60) == 0
    assert disk_store.list_events("shared") == published
    assert disk_store.load("shared") == b'{"n": %d}' % saves + b" " * 5000


def test_store_error_when_folder_is_a_file(tmp_path: pathlib.Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(StoreError) as info:
        DiskStateStore(not_a_folder)
    assert str(not_a_folder) in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
    assert isinstance(info.value, OSError)


def test_store_error_names_instance_and_path(tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "store"
    disk = DiskStateStore(folder)
    folder.rmdir()
    folder.write_text("now a file")
    operations: list[Callable[[], object]] = [
        lambda: disk.load("the-instance"),
        lambda: disk.save("the-instance", b"x"),
        lambda: disk.add_event("the-instance", "e", b"x"),
        lambda: disk.list_events("the-instance"),
        lambda: disk.delete_events("the-instance", ["e"]),
        lambda: disk.append_history("the-instance", b"x"),
        lambda: disk.read_history("the-instance"),
    ]
    for operation in operations:
        with pytest.raises(StoreError) as info:
            operation()
        assert "'the-instance'" in str(info.value)
        assert str(folder) in str(info.value)
        assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(StoreError):
        disk.list_instances()


# ------------------------------------------------------------------------------------------
# The disk journal: torn appends, damage, rewrites, readers in other store objects
# ------------------------------------------------------------------------------------------


def _journal(store: DiskStateStore, instance_id: str) -> pathlib.Path:
    (path,) = [p for p in store.path.glob("*.log") if store.load(instance_id) is not None]
    return path


def _state(store: DiskStateStore, instance_id: str) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    return store.load_with_events(instance_id)


@pytest.mark.parametrize("last", ["commit", "event"])
def test_a_torn_append_leaves_the_state_before_it(tmp_path: pathlib.Path, last: str) -> None:
    """A crash can cut the last append anywhere: every cut reads as the state before that
    append, and the next write cuts the torn bytes off and is read back."""
    store = DiskStateStore(tmp_path / "store")
    store.save("i", b'{"seq": 1}')
    store.add_event("i", "e1", b"one")
    store.add_event("i", "e2", b"two")
    path = _journal(store, "i")
    if last == "commit":
        before = path.read_bytes()
        store.commit("i", b'{"seq": 2}', lambda current: True, consumed=["e1"])
    else:
        store.commit("i", b'{"seq": 2}', lambda current: True, consumed=["e1"])
        before = path.read_bytes()
        store.add_event("i", "e3", b"three")
    after = path.read_bytes()
    expected = _state(DiskStateStore(store.path), "i")
    assert len(after) > len(before)
    for cut in range(len(before), len(after)):
        path.write_bytes(after[:cut])
        fresh = DiskStateStore(store.path)
        assert _state(fresh, "i") == _state(_copy_of(tmp_path, before), "i"), cut
        fresh.add_event("i", "late", b"x")
        reread = _state(DiskStateStore(store.path), "i")
        assert reread[1][-1] == ("late", b"x"), cut
    path.write_bytes(after)
    assert _state(DiskStateStore(store.path), "i") == expected


def _copy_of(tmp_path: pathlib.Path, journal: bytes) -> DiskStateStore:
    """A store holding only instance "i" with exactly `journal` as its journal."""
    folder = tmp_path / f"copy-{len(journal)}"
    folder.mkdir(exist_ok=True)
    (folder / "i_i.log").write_bytes(journal)
    return DiskStateStore(folder)


def test_a_snapshot_torn_inside_its_payload_reads_as_the_one_before(
    disk_store: DiskStateStore,
) -> None:
    """A power failure can leave a last record whose frame is whole but whose bytes are not (a
    checksum mismatch): it is ignored like any torn append."""
    disk_store.save("i", b"first")
    disk_store.save("i", b"second")
    path = _journal(disk_store, "i")
    raw = bytearray(path.read_bytes())
    raw[-30] ^= 0xFF  # inside the last snapshot's payload
    path.write_bytes(bytes(raw))
    fresh = DiskStateStore(disk_store.path)
    assert fresh.load("i") == b"first"
    fresh.save("i", b"third")
    assert DiskStateStore(disk_store.path).load("i") == b"third"


@pytest.mark.parametrize("where", ["event", "snapshot", "head"])
def test_damage_before_later_records_is_refused_and_left_alone(
    disk_store: DiskStateStore, where: str
) -> None:
    """Damage that no crash can produce (a bad record followed by whole ones) raises StoreError
    naming the instance and the file, for readers and writers, and the file stays as it is."""
    disk_store.save("inst-9", b"snapshot-one")
    disk_store.add_event("inst-9", "e1", b"event-one")
    disk_store.save("inst-9", b"snapshot-two")
    path = _journal(disk_store, "inst-9")
    raw = bytearray(path.read_bytes())
    target = {"head": b" inst-9", "snapshot": b"snapshot-one", "event": b"event-one"}[where]
    raw[raw.index(target) + 2] ^= 0x01
    path.write_bytes(bytes(raw))
    damaged = path.read_bytes()
    fresh = DiskStateStore(disk_store.path)
    operations: list[Callable[[], object]] = [
        lambda: fresh.load("inst-9"),
        lambda: fresh.list_events("inst-9"),
        lambda: fresh.save("inst-9", b"x"),
        lambda: fresh.add_event("inst-9", "e2", b"x") or fresh.load("inst-9"),
    ]
    for operation in operations:
        with pytest.raises(StoreError) as info:
            operation()
        assert "'inst-9'" in str(info.value) and str(path) in str(info.value)
        assert "damaged" in str(info.value)
    assert path.read_bytes()[: len(damaged)] == damaged


def test_a_journal_under_another_instance_name_is_refused(disk_store: DiskStateStore) -> None:
    """Each journal names its instance in its head: a file copied to another id's name is
    refused instead of handing one instance's state to another."""
    disk_store.save("a", b"state of a")
    (disk_store.path / "i_b.log").write_bytes((disk_store.path / "i_a.log").read_bytes())
    with pytest.raises(StoreError, match="names instance"):
        disk_store.load("b")
    assert disk_store.load("a") == b"state of a"


def test_the_journal_is_rewritten_when_old_records_pile_up(disk_store: DiskStateStore) -> None:
    """Saves append; once superseded records outweigh the live ones (and 32 KiB) a save rewrites
    the journal, keeping unconsumed events, so the file stays bounded."""
    disk_store.add_event("i", "kept", b"never consumed")
    reader = DiskStateStore(disk_store.path)  # parses incrementally; must notice rewrites
    sizes = []
    for n in range(1000):
        disk_store.add_event("i", f"e{n:04d}", b"x" * 50)
        disk_store.commit("i", b"%04d" % n + b"." * 1000, lambda c: True, consumed=[f"e{n:04d}"])
        sizes.append((disk_store.path / "i_i.log").stat().st_size)
        if n % 97 == 0:
            assert reader.load_with_events("i") == (
                b"%04d" % n + b"." * 1000,
                [("kept", b"never consumed")],
            )
    assert max(sizes) < 2 * 32 * 1024 + 4096
    assert min(sizes[500:]) < 4096  # rewritten more than once
    assert reader.load_with_events("i") == (b"0999" + b"." * 1000, [("kept", b"never consumed")])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("save"), st.integers(0, 40_000)),
            st.tuples(st.just("add"), st.integers(0, 5)),
            st.tuples(st.just("consume"), st.integers(0, 5)),
            st.tuples(st.just("delete"), st.integers(0, 5)),
        ),
        max_size=60,
    )
)
def test_readers_in_other_store_objects_always_see_the_latest_state(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, int]]
) -> None:
    """A writer and readers (each with its own parse cache) on one folder: after every write,
    every reader sees exactly the model's snapshot and inbox, through appends and rewrites."""
    folder = tmp_path_factory.mktemp("journal")
    writer, readers = DiskStateStore(folder), [DiskStateStore(folder) for _ in range(2)]
    snapshot: bytes | None = None
    inbox: dict[str, bytes] = {}
    for step, (op, n) in enumerate(ops):
        if op == "save":
            snapshot = b"%d:" % step + b"s" * n
            writer.save("x", snapshot)
        elif op == "add":
            inbox[f"e{n}"] = b"%d" % step
            writer.add_event("x", f"e{n}", b"%d" % step)
        elif op == "consume":
            snapshot = b"%d:consumed" % step
            writer.commit("x", snapshot, lambda c: True, consumed=[f"e{n}"])
            inbox.pop(f"e{n}", None)
        else:
            writer.delete_events("x", [f"e{n}"])
            inbox.pop(f"e{n}", None)
        for reader in readers[: 1 + step % 2]:  # the second reader skips some steps
            assert reader.load_with_events("x") == (snapshot, sorted(inbox.items()))


def test_a_read_on_the_event_loop_only_from_a_warm_cache(disk_store: DiskStateStore) -> None:
    """`try_load_with_events` (called on the event loop) answers only for a journal this store
    object has read, grown by a little; otherwise it declines and the thread path reads."""
    writer = DiskStateStore(disk_store.path)
    writer.save("i", b"one")
    assert disk_store.try_load_with_events("i") is None  # never read by this object
    assert disk_store.load_with_events("i") == (b"one", [])
    writer.add_event("i", "e", b"event")
    writer.commit("i", b"two", lambda c: True)
    assert disk_store.try_load_with_events("i") == (b"two", [("e", b"event")])
    writer.save("i", b"x" * 70_000)  # more than a read on the loop may parse
    assert disk_store.try_load_with_events("i") is None
    assert disk_store.load_with_events("i") == (b"x" * 70_000, [("e", b"event")])
    assert InMemoryStateStore().try_load_with_events("i") is None


def test_audit_entries_written_with_saves_and_events_keep_their_order(
    store: StateStore,
) -> None:
    """`commit` and `publish` carry audit entries; across many saves (and, on disk, journal
    rewrites that move them to the history file) they read back once each, in order."""
    expected = []
    for n in range(300):
        store.publish("i", f"e{n:03d}", b"x" * 40, [b'{"published": %d}' % n])
        entries = [b'{"saved": %d, "part": %d}' % (n, part) for part in range(3)]
        store.commit("i", b"%d" % n + b"." * 500, lambda c: True, [f"e{n:03d}"], entries)
        expected += [b'{"published": %d}' % n, *entries]
        if n % 50 == 0:
            assert store.read_history("i") == expected
    assert store.read_history("i") == expected
    assert store.list_events("i") == []
    if isinstance(store, DiskStateStore):
        moved = (store.path / "i_i.history").read_bytes().count(b"\n")
        assert 0 < moved < len(expected)  # most moved by rewrites; the newest still journaled
        assert DiskStateStore(store.path).read_history("i") == expected


def test_a_rewrite_that_crashed_after_moving_the_audit_entries_duplicates_none(
    disk_store: DiskStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rewrite first appends the journal's audit entries to the history file, then replaces
    the journal: a crash in between leaves them in both, and neither reads nor the next rewrite
    count them twice."""
    expected: list[bytes] = []
    fail = {"once": True}
    real = stores_module._write_atomic

    def crash_once(folder: pathlib.Path, name: str, data: bytes) -> None:
        if fail["once"] and name.endswith(".log"):
            fail["once"] = False
            raise OSError("simulated crash before the rename")
        real(folder, name, data)

    monkeypatch.setattr(stores_module, "_write_atomic", crash_once)
    n = 0
    while fail["once"]:
        entry = b'{"n": %d}' % n
        try:
            disk_store.commit("i", b"s" * 2000, lambda c: True, (), [entry])
        except StoreError:
            assert disk_store.read_history("i") == expected  # the failed save wrote nothing
            break
        expected.append(entry)
        n += 1
    assert DiskStateStore(disk_store.path).read_history("i") == expected
    for m in range(n + 1, n + 60):
        disk_store.commit("i", b"s" * 2000, lambda c: True, (), [b'{"n": %d}' % m])
        expected.append(b'{"n": %d}' % m)
    assert DiskStateStore(disk_store.path).read_history("i") == expected
