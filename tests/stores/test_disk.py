"""The disk store alone: its files, the journal format, compaction, other processes, and
what crashes and damage do to a journal.

The contract it shares with the other stores is tested in ``test_contract.py`` and
``test_stores.py`` (through the ``store`` fixture of ``tests/conftest.py``).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_contract import HOSTILE_IDS, header

import durable
import durable.stores._disk._store as store_module
from durable.errors import StoreError
from durable.stores import DiskStateStore, InboxEvent, StateStore, StoredInstance, new_event_id
from durable.stores._contract import _legacy_seq


@pytest.fixture
def disk_store(tmp_path: pathlib.Path) -> DiskStateStore:
    return DiskStateStore(tmp_path / "store")


def files_under(folder: pathlib.Path) -> set[pathlib.Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------------------
# Disk only: files, processes, crashes
# ------------------------------------------------------------------------------------------


def test_a_fresh_store_on_the_same_folder_sees_everything(disk_store: DiskStateStore) -> None:
    long_id = "é" * 500
    for instance_id in ["a", long_id]:
        disk_store.save(instance_id, b"snap")
        disk_store.publish(instance_id, "e1", "ev", b"ev")
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
    disk_store.publish("inst", "e", "ev", b"event")
    # what a crash between mkstemp and rename (of a journal rewrite) leaves
    (disk_store.path / ".tmp-crashed.tmp").write_bytes(b"torn sna")
    (disk_store.path / "i_inst.log.tmp").write_bytes(b"torn")
    assert disk_store.load("inst") == b"good"
    assert disk_store.list_instances() == ["inst"]
    assert disk_store.list_events("inst") == [("e", b"event")]
    assert DiskStateStore(disk_store.path).list_instances() == ["inst"]


def test_stale_temp_files_are_swept(disk_store: DiskStateStore) -> None:
    disk_store.publish("inst", "e", "ev", b"event")
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
        disk_store.publish("inst", f"e{n}", "ev", b"")
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
    package_root = pathlib.Path(durable.__file__).parents[1]
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
            disk_store.publish("shared", event_id, "ev", b"%d" % n)
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
        lambda: disk.publish("the-instance", "e", "ev", b"x"),
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


def state(store: StateStore, instance_id: str) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """The snapshot and the inbox as ``(event id, data)`` pairs."""
    stored = store.read(instance_id)
    return stored.data, [(e.id, e.data) for e in stored.inbox]


def checkpoint(
    store: StateStore,
    instance_id: str,
    data: bytes,
    consumed: Collection[str] = (),
    history: Sequence[bytes] = (),
) -> None:
    """Commit ``data`` over whatever checkpoint is stored (a header with the next seq)."""
    stored = store.read(instance_id)
    seq = stored.seq if stored.seq is not None else _legacy_seq(stored.data)
    assert store.commit(instance_id, seq, header(max(seq, 0) + 1), data, consumed, history)


@pytest.mark.parametrize("last", ["commit", "event"])
def test_a_torn_append_leaves_the_state_before_it(tmp_path: pathlib.Path, last: str) -> None:
    """A crash can cut the last append anywhere: every cut reads as the state before that
    append, and the next write cuts the torn bytes off and is read back."""
    store = DiskStateStore(tmp_path / "store")
    store.save("i", b'{"seq": 1}')
    store.publish("i", "e1", "ev", b"one")
    store.publish("i", "e2", "ev", b"two")
    path = _journal(store, "i")
    if last == "commit":
        before = path.read_bytes()
        checkpoint(store, "i", b'{"seq": 2}', ["e1"])
    else:
        checkpoint(store, "i", b'{"seq": 2}', ["e1"])
        before = path.read_bytes()
        store.publish("i", "e3", "ev", b"three")
    after = path.read_bytes()
    expected = state(DiskStateStore(store.path), "i")
    assert len(after) > len(before)
    for cut in range(len(before), len(after)):
        path.write_bytes(after[:cut])
        fresh = DiskStateStore(store.path)
        assert state(fresh, "i") == state(_copy_of(tmp_path, before), "i"), cut
        fresh.publish("i", "late", "ev", b"x")
        reread = state(DiskStateStore(store.path), "i")
        assert reread[1][-1] == ("late", b"x"), cut
    path.write_bytes(after)
    assert state(DiskStateStore(store.path), "i") == expected


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
    disk_store.publish("inst-9", "e1", "ev", b"event-one")
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
        lambda: fresh.publish("inst-9", "e2", "ev", b"x") or fresh.load("inst-9"),
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
    disk_store.publish("i", "kept", "ev", b"never consumed")
    reader = DiskStateStore(disk_store.path)  # parses incrementally; must notice rewrites
    sizes = []
    for n in range(1000):
        disk_store.publish("i", f"e{n:04d}", "ev", b"x" * 50)
        checkpoint(disk_store, "i", b"%04d" % n + b"." * 1000, [f"e{n:04d}"])
        sizes.append((disk_store.path / "i_i.log").stat().st_size)
        if n % 97 == 0:
            assert state(reader, "i") == (
                b"%04d" % n + b"." * 1000,
                [("kept", b"never consumed")],
            )
    assert max(sizes) < 2 * 32 * 1024 + 4096
    assert min(sizes[500:]) < 4096  # rewritten more than once
    assert state(reader, "i") == (b"0999" + b"." * 1000, [("kept", b"never consumed")])


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
            writer.publish("x", f"e{n}", "ev", b"%d" % step)
        elif op == "consume":
            snapshot = b"%d:consumed" % step
            checkpoint(writer, "x", snapshot, [f"e{n}"])
            inbox.pop(f"e{n}", None)
        else:
            writer.delete_events("x", [f"e{n}"])
            inbox.pop(f"e{n}", None)
        for reader in readers[: 1 + step % 2]:  # the second reader skips some steps
            assert state(reader, "x") == (snapshot, sorted(inbox.items()))


def test_a_read_on_the_event_loop_only_from_a_warm_cache(disk_store: DiskStateStore) -> None:
    """`try_read` (called on the event loop) answers only for a journal this store object has
    read, grown by a little; otherwise it declines and the thread path reads."""
    writer = DiskStateStore(disk_store.path)
    writer.save("i", b"one")
    assert disk_store.try_read("i") is None  # never read by this object
    assert state(disk_store, "i") == (b"one", [])
    writer.publish("i", "e", "go", b"event")
    checkpoint(writer, "i", b"two")
    assert disk_store.try_read("i") == writer.read("i")
    assert disk_store.try_read("i") == StoredInstance(
        header(0 + 1), b"two", (InboxEvent("e", "go", b"event"),)
    )
    writer.save("i", b"x" * 70_000)  # more than a read on the loop may parse
    assert disk_store.try_read("i") is None
    assert state(disk_store, "i") == (b"x" * 70_000, [("e", b"event")])


def test_a_rewrite_that_crashed_after_moving_the_audit_entries_duplicates_none(
    disk_store: DiskStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rewrite first appends the journal's audit entries to the history file, then replaces
    the journal: a crash in between leaves them in both, and neither reads nor the next rewrite
    count them twice."""
    expected: list[bytes] = []
    fail = {"once": True}
    real = store_module.write_atomic

    def crash_once(folder: pathlib.Path, name: str, data: bytes) -> None:
        if fail["once"] and name.endswith(".log"):
            fail["once"] = False
            raise OSError("simulated crash before the rename")
        real(folder, name, data)

    monkeypatch.setattr(store_module, "write_atomic", crash_once)
    n = 0
    while fail["once"]:
        entry = b'{"n": %d}' % n
        try:
            checkpoint(disk_store, "i", b"s" * 2000, (), [entry])
        except StoreError:
            assert disk_store.read_history("i") == expected  # the failed save wrote nothing
            break
        expected.append(entry)
        n += 1
    assert DiskStateStore(disk_store.path).read_history("i") == expected
    for m in range(n + 1, n + 60):
        checkpoint(disk_store, "i", b"s" * 2000, (), [b'{"n": %d}' % m])
        expected.append(b'{"n": %d}' % m)
    assert DiskStateStore(disk_store.path).read_history("i") == expected


def test_hostile_ids_stay_inside_the_folder(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "parent" / "store"
    disk = DiskStateStore(root)
    for n, instance_id in enumerate(HOSTILE_IDS):
        disk.save(instance_id, b"%d" % n)
        disk.publish(instance_id, instance_id, "ev", b"%d" % n)  # hostile event ids too
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
