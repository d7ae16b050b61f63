"""`StateStore.delete` on every store: everything kept for one id goes, nothing of another."""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from test_contract import HOSTILE_IDS, T0, LoadSaveStore, ev, header, snap

from durable.stores import DiskStateStore, StateStore

LATER = T0 + timedelta(hours=1)


def _fill(store: StateStore, instance_id: str, n: int = 0) -> None:
    """Three checkpoints (two retained), an event in the inbox, history, a lease."""
    for seq in (1, 2, 3):
        assert store.commit(instance_id, seq - 1, header(seq, events=("go",)), snap(seq + n))
    store.publish(instance_id, f"e{n}", "go", ev("go", n), [b"%d" % n])
    assert store.claim(instance_id, f"w{n}", T0, LATER)


def _everything(store: StateStore, instance_id: str) -> tuple[object, ...]:
    return (
        store.read(instance_id),
        store.read_history(instance_id),
        store.checkpoints(instance_id),
        store.lease(instance_id),
    )


def _gone(store: StateStore, instance_id: str) -> None:
    stored = store.read(instance_id)
    assert (stored.header, stored.data, stored.inbox) == (None, None, ())
    assert store.read_header(instance_id) is None
    assert store.read_history(instance_id) == []
    assert store.checkpoints(instance_id) == [] and store.checkpoint(instance_id, 3) is None
    assert store.lease(instance_id) is None
    assert instance_id not in store.list_instances()
    assert instance_id not in [i for i, _ in store.list_headers(limit=10_000)]
    assert instance_id not in store.ready(T0)


def test_delete_removes_everything_and_says_whether_anything_was_there(
    store: StateStore,
) -> None:
    _fill(store, "a")
    _fill(store, "b", 1)
    other = _everything(store, "b")
    assert len(store.checkpoints("a")) == 2 and store.lease("a") is not None
    assert "a" in store.ready(T0)
    assert store.delete("a") is True
    _gone(store, "a")
    assert store.delete("a") is False
    assert _everything(store, "b") == other
    assert store.list_instances() == ["b"]


def test_a_deleted_id_starts_afresh(store: StateStore) -> None:
    _fill(store, "a")
    store.delete("a")
    assert not store.commit("a", 3, header(4), snap(4))  # the old run cannot save over it
    assert store.claim("a", "someone else", T0, LATER)  # its old lease went too
    assert store.commit("a", 0, header(1), snap(1))
    assert store.read("a").seq == 1 and store.read_history("a") == []


def test_delete_of_an_id_with_only_an_event_or_history(store: StateStore) -> None:
    store.publish("early", "e", "go", ev("go"))
    store.append_history("noted", b'"x"')
    assert store.delete("early") and store.delete("noted")
    assert store.read("early").inbox == () and store.read_history("noted") == []
    assert store.delete("never") is False


def test_deleting_hostile_ids_never_touches_another(store: StateStore) -> None:
    for n, instance_id in enumerate(HOSTILE_IDS):
        _fill(store, instance_id, n)
    before = {i: _everything(store, i) for i in HOSTILE_IDS}
    doomed = HOSTILE_IDS[::2]
    for instance_id in doomed:
        assert store.delete(instance_id), repr(instance_id)
    for instance_id in HOSTILE_IDS:
        if instance_id in doomed:
            _gone(store, instance_id)
        else:
            assert _everything(store, instance_id) == before[instance_id], repr(instance_id)
    assert store.list_instances() == sorted(HOSTILE_IDS[1::2])


def test_disk_delete_leaves_no_file_of_the_instance(tmp_path: pathlib.Path) -> None:
    store = DiskStateStore(tmp_path)
    _fill(store, "x" * 300)  # a hashed file name
    _fill(store, "keep", 1)
    files = set(os.listdir(tmp_path))
    assert store.delete("x" * 300)
    left = set(os.listdir(tmp_path))
    assert left < files and all("keep" in name for name in left)


def test_disk_delete_of_a_damaged_journal(tmp_path: pathlib.Path) -> None:
    store = DiskStateStore(tmp_path)
    _fill(store, "a")
    (tmp_path / "i_a.log").write_bytes(b"garbage")
    with pytest.raises(Exception, match="damaged"):
        store.read("a")
    assert store.delete("a")
    _gone(store, "a")


def test_disk_a_writer_waiting_on_a_deleted_lock_takes_the_new_one(
    tmp_path: pathlib.Path,
) -> None:
    """`delete` unlinks the lock file while holding it. A commit that was waiting on it is
    then granted the old file's lock, but must not run beside a newcomer holding the new
    file's: it starts over and waits."""
    from durable.stores._disk._files import locked

    store = DiskStateStore(tmp_path)
    _fill(store, "a")
    lock = tmp_path / "i_a.lock"
    results: list[bool] = []
    first = contextlib.ExitStack()
    first.enter_context(locked(lock))
    writer = threading.Thread(
        target=lambda: results.append(store.commit("a", 3, header(4), snap(4)))
    )
    writer.start()
    time.sleep(0.2)  # lets the writer reach the lock (either way it must wait below)
    os.unlink(lock)  # what `delete` does while it holds the lock
    (tmp_path / "i_a.log").unlink()
    with locked(lock):  # a newcomer locks a new lock file
        first.close()  # the writer is granted the old one...
        time.sleep(0.2)
        assert results == []  # ...and still waits for the newcomer
    writer.join()
    assert results == [False]  # then finds no checkpoint 3: the instance was deleted
    assert store.read("a").data is None


CRASHER = """
import sys
from durable.stores import DiskStateStore
from test_contract import header, snap
store = DiskStateStore(sys.argv[1])
print("ready", flush=True)
for n in range(int(sys.argv[2])):
    store.delete(f"i{n}")
"""


@pytest.mark.parametrize("kill_after", [0.0, 0.02, 0.05])
def test_disk_a_delete_killed_midway_leaves_each_instance_whole_or_gone(
    tmp_path: pathlib.Path, kill_after: float
) -> None:
    store = DiskStateStore(tmp_path)
    count = 60
    for n in range(count):
        _fill(store, f"i{n}", n)
    whole = {f"i{n}": _everything(store, f"i{n}") for n in range(count)}
    here = pathlib.Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), str(here.parent)])}
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHER, str(tmp_path), str(count)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    time.sleep(kill_after)
    child.kill()  # SIGKILL: no cleanup
    child.wait()
    fresh = DiskStateStore(tmp_path)
    kinds = set()
    for instance_id, before in whole.items():
        stored = fresh.read(instance_id)
        if stored.data is not None:
            assert _everything(fresh, instance_id) == before  # all there
            kinds.add("whole")
        else:
            assert instance_id not in fresh.list_instances()
            kinds.add("gone")
        fresh.delete(instance_id)  # finishes an interrupted one
        _gone(fresh, instance_id)
    assert kinds  # every instance was one or the other
    assert not [n for n in os.listdir(tmp_path) if not n.startswith(".tmp-")]


class _LoadSave(LoadSaveStore):
    """A seed store (``load``/``save``) that can also `remove` a key."""

    def remove(self, key: str) -> bool:
        return self.data.pop(key, None) is not None


def test_the_default_delete_removes_every_key_the_defaults_keep() -> None:
    store = _LoadSave()
    for instance_id in ("a", "a\x00b", "b"):
        assert store.commit(instance_id, 0, header(1), snap(1), (), [b'"h"'])
        store.publish(instance_id, "e", "go", ev("go"))
        assert store.claim(instance_id, "w", T0, LATER)
    own = {"a", "a\x00header", "a\x00inbox", "a\x00history"}
    assert own <= set(store.data)
    others = {key: data for key, data in store.data.items() if key not in own}
    assert store.delete("a") is True
    assert store.data == others
    assert store.read("a") == store.read("never") and store.lease("a") is None
    assert store.read_history("a") == [] and store.read("a\x00b").seq == 1
    assert store.delete("a") is False


def test_a_seed_store_that_cannot_remove_says_so() -> None:
    class Bare(_LoadSave):
        remove = StateStore.remove

    with pytest.raises(NotImplementedError, match="implement remove"):
        Bare().delete("a")
