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
from test_contract import HOSTILE_IDS, T0, header

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


# The journal damage tests try every offset of a journal in the exhaustive tier only
# (--exhaustive, see tests/conftest.py); by default they try a sample of `offsets`.
every_offset = pytest.mark.parametrize(
    "every",
    [
        pytest.param(False, id="sampled"),
        pytest.param(True, id="every", marks=pytest.mark.exhaustive),
    ],
)


def offsets(start: int, stop: int, marks: Collection[int], every: bool) -> list[int]:
    """The offsets in ``range(start, stop)``: all of them with `every`, else every fourth and
    those within 2 bytes of one of `marks` (record boundaries and the like)."""
    near = {m + d for m in marks for d in range(-2, 3)}
    return [n for n in range(start, stop) if every or n % 4 == start % 4 or n in near]


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
@every_offset
def test_a_torn_append_leaves_the_state_before_it(
    tmp_path: pathlib.Path, last: str, every: bool
) -> None:
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
    for cut in offsets(len(before), len(after), [len(before), len(after)], every):
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
    retained = disk_store.keep_checkpoints * 1100  # the last checkpoints survive a rewrite
    assert max(sizes) < 2 * (32 * 1024 + retained) + 4096
    assert min(sizes[500:]) < 4096 + retained  # rewritten more than once
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


# ------------------------------------------------------------------------------------------
# Damage: only a torn last append is forgiven; everything else is a named error
# ------------------------------------------------------------------------------------------


def _small_journal(folder: pathlib.Path) -> tuple[bytes, list[int], list[StoredInstance]]:
    """A journal (head, checkpoints, events) built one append at a time: its bytes, its size
    and the store's answer after each append."""
    disk = DiskStateStore(folder)
    sizes: list[int] = []
    states: list[StoredInstance] = []
    path = folder / "i_i.log"

    def step(ok: object = True) -> None:
        assert ok
        sizes.append(path.stat().st_size)
        states.append(disk.read("i"))

    step(disk.commit("i", 0, header(1), b'{"n": 1}'))  # creates the journal: head and C
    step(disk.publish("i", "e1", "go", b"one") or True)
    step(disk.publish("i", "e2", "go", b"two", [b'"published"']) or True)
    step(disk.commit("i", 1, header(2, events=("go",)), b'{"n": 2}', ["e1"], [b'"c2"']))
    step(disk.publish("i", "e3", "stop", b"three") or True)
    step(disk.commit("i", 2, header(3), b'{"n": 3}', ["e2", "e3"]))
    step(disk.publish("i", "e4", "go", b"four") or True)
    return path.read_bytes(), sizes, states


def _outcome(folder: pathlib.Path, raw: bytes) -> StoredInstance | StoreError:
    (folder / "i_i.log").write_bytes(raw)
    try:
        return DiskStateStore(folder).read("i")
    except StoreError as e:
        assert "'i'" in str(e) and "i_i.log" in str(e) and "damaged" in str(e), e
        return e


@every_offset
def test_every_truncation_resumes_from_a_whole_prefix_or_is_refused(
    tmp_path: pathlib.Path, every: bool
) -> None:
    """Cut the journal at every offset: a cut inside the head or the first checkpoint (which
    a journal is created with, atomically) is refused; any other cut reads exactly as the
    whole records before it (at most the one append in flight lost), and the next write
    cuts the torn bytes off."""
    raw, sizes, states = _small_journal(tmp_path / "build")
    folder = tmp_path / "cut"
    folder.mkdir()
    forgiven = 0
    cuts = offsets(0, len(raw), sizes, every)
    for cut in cuts:
        result = _outcome(folder, raw[:cut])
        whole = [k for k, size in enumerate(sizes) if size <= cut]
        if not whole:
            assert isinstance(result, StoreError), cut  # never a silent restart
            assert (folder / "i_i.log").read_bytes() == raw[:cut]
            continue
        k = whole[-1]
        if cut == sizes[k]:
            assert result == states[k], cut
            continue
        assert result == states[k] or isinstance(result, StoreError), cut
        forgiven += result == states[k]
        if cut % 7 == 0 and result == states[k]:
            DiskStateStore(folder).publish("i", "late", "go", b"x")
            after = DiskStateStore(folder).read("i")
            assert after.inbox == (*states[k].inbox, InboxEvent("late", "go", b"x")), cut
    assert forgiven > len(cuts) // 2  # the torn appends a crash can leave do read back


def _damaged(raw: bytes, pos: int, change: Callable[[int], int]) -> bytes | None:
    byte = change(raw[pos])
    return None if byte == raw[pos] else raw[:pos] + bytes((byte,)) + raw[pos + 1 :]


_CHANGES: dict[str, Callable[[int], int]] = {
    "xor ff": lambda b: b ^ 0xFF,
    "xor 01": lambda b: b ^ 0x01,
    "digit 0": lambda b: ord("0"),
    "digit 9": lambda b: ord("9"),
    "newline": lambda b: ord("\n"),
    "letter": lambda b: ord("C"),
}


@pytest.mark.parametrize("change", list(_CHANGES))
@every_offset
def test_every_single_byte_damage_is_refused_or_loses_only_the_last_append(
    tmp_path: pathlib.Path, change: str, every: bool
) -> None:
    """Change each byte of the journal: a read raises StoreError naming the instance and the
    file, or (for a byte of the last record only: a torn last append) reads as the state
    before that append. Never a restart, never an older checkpoint, never a wrong state."""
    raw, sizes, states = _small_journal(tmp_path / "build")
    folder = tmp_path / "damaged"
    folder.mkdir()
    marks = [*sizes, sizes[-2] + 22, len(raw) - 22]  # records and the last one's marks
    for pos in offsets(0, len(raw), marks, every):
        damaged = _damaged(raw, pos, _CHANGES[change])
        if damaged is None:
            continue
        result = _outcome(folder, damaged)
        if pos < sizes[-2]:  # before the last record: no crash does that
            assert isinstance(result, StoreError), pos
            assert (folder / "i_i.log").read_bytes() == damaged
        elif sizes[-2] + 22 <= pos < len(raw) - 22:  # the last payload: a torn last append
            assert result == states[-2], pos
        else:  # the last record's marks
            assert result == states[-2] or isinstance(result, StoreError), pos


def test_writers_refuse_a_damaged_journal_and_leave_it_alone(tmp_path: pathlib.Path) -> None:
    """Publishing, committing and deleting events on a damaged journal raise before writing."""
    raw, sizes, _ = _small_journal(tmp_path / "build")
    folder = tmp_path / "damaged"
    folder.mkdir()
    for pos in range(0, sizes[-2], 3):  # every record but the last
        damaged = _damaged(raw, pos, _CHANGES["xor ff"])
        assert damaged is not None
        (folder / "i_i.log").write_bytes(damaged)
        disk = DiskStateStore(folder)
        writes: list[tuple[Callable[..., object], tuple[object, ...]]] = [
            (disk.publish, ("i", "e9", "go", b"x")),
            (disk.commit, ("i", 3, header(4), b"{}")),
            (disk.save, ("i", b"{}")),
            (disk.delete_events, ("i", ["e4"])),
        ]
        for write, args in writes:
            with pytest.raises(StoreError, match="damaged"):
                write(*args)
            assert (folder / "i_i.log").read_bytes() == damaged, pos


@pytest.mark.parametrize("contents", [b"", b"garbage", b"\x00" * 4096, b"H 00"])
def test_an_emptied_or_garbage_journal_is_refused_not_restarted(
    disk_store: DiskStateStore, contents: bytes
) -> None:
    """A journal is created whole (head and first record, by rename), so an empty file or one
    without a head is damage: reads and writes raise instead of starting the instance anew."""
    assert disk_store.commit("i", 0, header(1), b"state")
    path = disk_store.path / "i_i.log"
    path.write_bytes(contents)
    fresh = DiskStateStore(disk_store.path)
    for operation in (
        lambda: fresh.read("i"),
        lambda: fresh.commit("i", 0, header(1), b"again"),
        lambda: fresh.publish("i", "e", "go", b""),
    ):
        with pytest.raises(StoreError, match="damaged"):
            operation()
    assert path.read_bytes() == contents


def test_a_new_journal_is_created_whole(
    disk_store: DiskStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first write of an instance goes through a temp file renamed into place: a crash
    before the rename leaves no journal at all, never an empty or headless one."""

    def crash(*args: object) -> None:
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(store_module.os, "replace", crash)
    with pytest.raises(StoreError):
        disk_store.publish("new", "e", "go", b"")
    assert not (disk_store.path / "i_new.log").exists()
    assert disk_store.read("new") == StoredInstance(None, None, ())


def test_a_publish_after_a_torn_last_record_cuts_it_first(disk_store: DiskStateStore) -> None:
    """A last record whose frame is whole but whose payload fails its CRC is a torn append:
    a publisher cuts it off before appending (else it would no longer be last, and every
    later read would fail)."""
    assert disk_store.commit("i", 0, header(1), b"one")
    disk_store.publish("i", "e1", "go", b"first")
    before = disk_store.read("i")
    assert disk_store.commit("i", 1, header(2), b"two-two-two", ["e1"])
    path = disk_store.path / "i_i.log"
    raw = bytearray(path.read_bytes())
    raw[-24] ^= 0xFF  # the last byte of the last checkpoint's payload
    path.write_bytes(bytes(raw))
    publisher = DiskStateStore(disk_store.path)  # another process: no cache
    publisher.publish("i", "e2", "go", b"second")
    publisher.publish("i", "e3", "go", b"third")
    reread = DiskStateStore(disk_store.path).read("i")
    assert reread.data == before.data == b"one"
    assert [e.id for e in reread.inbox] == ["e1", "e2", "e3"]
    assert disk_store.read("i") == reread  # the writer's own cache notices the rewrite too


def test_deleting_events_after_a_torn_last_record_cuts_it_first(
    disk_store: DiskStateStore,
) -> None:
    disk_store.publish("i", "e1", "go", b"first")
    disk_store.publish("i", "e2", "go", b"second")
    path = disk_store.path / "i_i.log"
    raw = path.read_bytes()
    path.write_bytes(raw[:-5])  # the last publish torn inside its closing mark
    fresh = DiskStateStore(disk_store.path)
    fresh.delete_events("i", ["e1"])
    assert DiskStateStore(disk_store.path).list_events("i") == []


# ------------------------------------------------------------------------------------------
# Listing damaged journals
# ------------------------------------------------------------------------------------------


def test_damaged_journals_are_listed_and_reported(disk_store: DiskStateStore) -> None:
    """One damaged journal neither hides nor breaks the others: `list_instances` lists every
    instance with a snapshot or a damaged journal (reading it raises), `damaged` says what is
    wrong, and a hashed journal whose head is unreadable (its id unknowable) is in `damaged`
    only."""
    long_ok, long_bad, long_headless = "L" * 100, "M" * 100, "N" * 100
    for instance_id in ["good", "garbage", "emptied", "copied", long_ok, long_bad, long_headless]:
        assert disk_store.commit(instance_id, 0, header(1), b"state")
        disk_store.publish(instance_id, "e", "go", b"event")
    disk_store.publish("inbox-only", "e", "go", b"")
    files = {p.name: p for p in disk_store.path.glob("*.log")}

    def hashed(instance_id: str) -> pathlib.Path:
        return disk_store.path / (store_module.stem(instance_id) + ".log")

    (disk_store.path / "i_garbage.log").write_bytes(b"pure garbage")
    (disk_store.path / "i_emptied.log").write_bytes(b"")
    (disk_store.path / "i_copied.log").write_bytes(files["i_good.log"].read_bytes())
    raw = bytearray(hashed(long_bad).read_bytes())
    raw[-60] ^= 0xFF  # inside the checkpoint: the head still names the id
    hashed(long_bad).write_bytes(bytes(raw))
    hashed(long_headless).write_bytes(b"not a journal")

    fresh = DiskStateStore(disk_store.path)
    assert fresh.list_instances() == sorted(
        ["good", "garbage", "emptied", "copied", long_ok, long_bad]
    )
    for instance_id in ["garbage", "emptied", "copied", long_bad]:
        with pytest.raises(StoreError, match="damaged"):
            fresh.read(instance_id)
    problems = dict(fresh.damaged())
    assert set(problems) == {
        str(disk_store.path / name) for name in ["i_garbage.log", "i_emptied.log", "i_copied.log"]
    } | {str(hashed(long_bad)), str(hashed(long_headless))}
    assert "names instance" in problems[str(disk_store.path / "i_copied.log")]
    assert fresh.read("good").data == b"state"
    assert fresh.ready(T0) == []  # damaged journals are skipped, not fatal


# ------------------------------------------------------------------------------------------
# The journal format: headers and names beside the data, legacy records
# ------------------------------------------------------------------------------------------


def test_checkpoints_carry_the_header_and_events_their_name(disk_store: DiskStateStore) -> None:
    """`ready` needs no snapshot parsed: the header is in the checkpoint record and the name
    in the event record (snapshots and event data here are not even JSON)."""
    assert disk_store.commit("i", 0, header(1, events=("go",)), b"\x00not json")
    disk_store.publish("i", "e1", "go", b"\xffnot json either")
    raw = (disk_store.path / "i_i.log").read_bytes()
    assert b"\nC 0" in raw and b"\nN 0" in raw and b"\ne1 go 0\n" in raw
    assert b'"status":"paused"' in raw
    assert DiskStateStore(disk_store.path).ready(T0) == ["i"]


def _legacy_journal(instance_id: str) -> bytes:
    """A journal as the previous version wrote it: H, S (no header), E (name in the data), D."""
    from durable.stores._disk._journal import frame

    def history(*entries: bytes) -> bytes:
        block = b"".join(e + b"\n" for e in entries)
        return b"%d\n" % len(block) + block

    return b"".join(
        [
            frame(b"H", b"0" * 32 + b" " + instance_id.encode()),
            frame(b"S", b"\n" + history(b'"s1"') + b'{"seq": 1, "v": "one"}'),
            frame(b"E", b"e1 " + history() + b'{"name": "go", "x": 1}'),
            frame(b"E", b"e2 " + history(b'"p2"') + b'{"name": "stop"}'),
            frame(b"E", b"e3 " + history() + b'{"name": "gone"}'),
            frame(b"D", b"e3,"),
            frame(b"S", b"e1,\n" + history() + b'{"seq": 2, "v": "two"}'),
        ]
    )


def test_journals_of_the_previous_version_still_load(disk_store: DiskStateStore) -> None:
    (disk_store.path / "i_old.log").write_bytes(_legacy_journal("old"))
    stored = disk_store.read("old")
    assert stored.header is None and stored.seq is None
    assert stored.data == b'{"seq": 2, "v": "two"}'
    assert stored.inbox == (InboxEvent("e2", "stop", b'{"name": "stop"}'),)
    assert disk_store.read_history("old") == [b'"s1"', b'"p2"']
    assert disk_store.list_instances() == ["old"]
    assert disk_store.ready(T0) == []  # no header: not decided without parsing the snapshot
    # The compare-and-set falls back to the seq inside the legacy snapshot.
    assert not disk_store.commit("old", 1, header(3), b"{}")
    assert disk_store.commit("old", 2, header(3, events=("stop",)), b'{"seq": 3}', ["e2"])
    assert disk_store.read("old").seq == 3
    disk_store.publish("old", "e4", "stop", b"")
    assert DiskStateStore(disk_store.path).ready(T0) == ["old"]


def test_legacy_events_keep_their_kind_through_a_rewrite(disk_store: DiskStateStore) -> None:
    (disk_store.path / "i_old.log").write_bytes(_legacy_journal("old"))
    for n in range(3, 80):
        assert disk_store.commit("old", n - 1, header(n), b"x" * 1000)
    raw = (disk_store.path / "i_old.log").read_bytes()
    assert b"0" * 32 not in raw[:60]  # rewritten under a new head
    assert raw.count(b"\nE 0") == 1 and b"\nN 0" not in raw  # e2 kept as it was
    assert DiskStateStore(disk_store.path).read("old").inbox == (
        InboxEvent("e2", "stop", b'{"name": "stop"}'),
    )


def test_save_writes_a_checkpoint_without_a_header(disk_store: DiskStateStore) -> None:
    """The seed method `save` replaces the snapshot alone; the header goes, as in memory."""
    assert disk_store.commit("i", 0, header(1), b'{"seq": 1}')
    disk_store.save("i", b'{"seq": 7}')
    assert disk_store.read_header("i") is None
    assert disk_store.commit("i", 7, header(8), b"{}")


@pytest.mark.parametrize("fill", [b"\x00", b"x", b"S"])
def test_damage_from_a_record_to_the_end_is_refused_not_rolled_back(
    tmp_path: pathlib.Path, fill: bytes
) -> None:
    """Bytes overwritten from some record to the end of the file are no torn append (that
    is at most one partial record): refused, instead of reading as an older checkpoint."""
    raw, sizes, _ = _small_journal(tmp_path / "build")
    folder = tmp_path / "damaged"
    folder.mkdir()
    for start in sizes[:-1]:
        for end in (len(raw), len(raw) - 3):
            result = _outcome(folder, raw[:start] + fill * (end - start))
            assert isinstance(result, StoreError), (start, end)
