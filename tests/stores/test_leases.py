"""Leases (`StateStore.claim`, `release`, `lease`, `claim_ready`, `commit(owner=)`) on every
store, on a user's store of only ``load``/``save``, and across processes where a store is
shared by processes (disk, SQLite)."""

from __future__ import annotations

import dataclasses
import pathlib
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from storekit import make_store
from test_contract import HOSTILE_IDS, T0, LoadSaveStore, ev, header, snap

from durable.stores import DiskStateStore, SQLiteStateStore, StateStore

LATER = T0 + timedelta(seconds=30)


@pytest.fixture(params=["memory", "disk", "sqlite", "postgres", "load-save"])
def any_store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[StateStore]:
    """Every store of the ``store`` fixture, and a user's store of only load/save."""
    made = LoadSaveStore() if request.param == "load-save" else make_store(
        request.param, request, tmp_path
    )
    yield made
    made.close()


def test_a_claim_excludes_other_owners_until_it_expires(any_store: StateStore) -> None:
    store = any_store
    assert store.lease("i") is None
    assert store.claim("i", "w1", T0, LATER)  # no snapshot yet: a start is claimed too
    lease = store.lease("i")
    assert lease is not None and (lease.owner, lease.until) == ("w1", LATER)
    assert not store.claim("i", "w2", T0 + timedelta(seconds=29), LATER + timedelta(seconds=30))
    assert store.claim("i", "w1", T0 + timedelta(seconds=10), LATER + timedelta(seconds=10))
    assert not store.claim("i", "w2", LATER, LATER + timedelta(seconds=30))  # renewed
    assert store.claim("i", "w2", LATER + timedelta(seconds=10), LATER + timedelta(minutes=1))
    lease = store.lease("i")
    assert lease is not None and lease.owner == "w2"


def test_release_ends_only_the_owners_lease(any_store: StateStore) -> None:
    store = any_store
    assert store.claim("i", "w1", T0, LATER)
    store.release("i", "w2")  # not its lease: nothing happens
    assert not store.claim("i", "w2", T0, LATER)
    store.release("i", "w1")
    assert store.lease("i") is None
    assert store.claim("i", "w2", T0, LATER)
    store.release("never-claimed", "w1")  # fine


def test_a_commit_by_an_overtaken_owner_is_refused_and_writes_nothing(
    any_store: StateStore,
) -> None:
    store = any_store
    assert store.claim("i", "w1", T0, LATER)
    assert store.commit("i", 0, header(1, "running"), snap(1), owner="w1")
    # w1 stalls past its lease; w2 takes the instance over.
    assert store.claim("i", "w2", LATER + timedelta(seconds=1), LATER + timedelta(minutes=1))
    assert not store.commit("i", 1, header(2), snap(2), owner="w1")
    assert store.read("i").seq == 1
    assert store.commit("i", 1, header(2, events=("go",)), snap(2), owner="w2")
    assert store.read("i").seq == 2


def test_a_commit_that_leaves_running_ends_the_lease(any_store: StateStore) -> None:
    store = any_store
    assert store.claim("i", "w1", T0, LATER)
    assert store.commit("i", 0, header(1, "running"), snap(1), owner="w1")
    held = store.lease("i")
    assert held is not None and held.owner == "w1"  # still running: still held
    assert store.commit("i", 1, header(2, events=("go",)), snap(2), owner="w1")
    assert store.lease("i") is None  # paused: free for whoever resumes it next
    assert store.claim("i", "w2", T0, LATER)


def test_a_commit_without_owner_ignores_leases(any_store: StateStore) -> None:
    store = any_store
    assert store.claim("i", "w1", T0, LATER)
    assert store.commit("i", 0, header(1), snap(1))  # the seed call form
    held = store.lease("i")
    assert held is not None and held.owner == "w1"


def test_an_owner_may_commit_an_unclaimed_instance(any_store: StateStore) -> None:
    # The children of a gather are committed by their root's run, which claims only the root.
    assert any_store.commit("child", 0, header(1), snap(1), owner="w1")
    assert any_store.lease("child") is None


def test_claim_ready_leaves_out_instances_leased_to_others(any_store: StateStore) -> None:
    store = any_store
    for name in ("a", "b", "c"):
        assert store.commit(name, 0, header(1, events=("go",)), snap(1))
        store.publish(name, f"e-{name}", "go", ev("go"))
    assert store.claim("b", "w2", T0, LATER)
    claimed = store.claim_ready(T0, "w1", LATER, limit=10)
    assert sorted(claimed) == ["a", "c"]
    assert store.claim_ready(T0, "w3", LATER, limit=10) == []  # all taken now
    for name in claimed:
        held = store.lease(name)
        assert held is not None and held.owner == "w1"
    # expired leases are taken over
    after = LATER + timedelta(seconds=1)
    taken = store.claim_ready(after, "w3", after + timedelta(minutes=1), 10)
    assert sorted(taken) == ["a", "b", "c"]


def test_leases_of_hostile_ids_stay_apart(store: StateStore) -> None:
    for n, instance_id in enumerate(HOSTILE_IDS):
        assert store.claim(instance_id, f"w{n}", T0, LATER)
    for n, instance_id in enumerate(HOSTILE_IDS):
        held = store.lease(instance_id)
        assert held is not None and held.owner == f"w{n}"
        assert not store.claim(instance_id, "someone-else", T0, LATER)


def test_bad_lease_arguments_are_refused(store: StateStore) -> None:
    with pytest.raises(TypeError):
        store.claim("i", "", T0, LATER)
    with pytest.raises(TypeError):
        store.claim("i", 7, T0, LATER)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.claim("i", "w", "now", LATER)  # type: ignore[arg-type]


def test_concurrent_claims_give_one_owner(store: StateStore) -> None:
    winners: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def contend(owner: str) -> None:
        barrier.wait()
        if store.claim("hot", owner, T0, LATER):
            with lock:
                winners.append(owner)

    threads = [threading.Thread(target=contend, args=(f"w{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


_CLAIMER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timedelta, timezone
    from durable.stores import DiskStateStore, SQLiteStateStore

    kind, path, owner = sys.argv[1:4]
    store = SQLiteStateStore(path) if kind == "sqlite" else DiskStateStore(path)
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    won = [i for i in range(200) if store.claim(f"i{i}", owner, now, now + timedelta(seconds=30))]
    print(" ".join(map(str, won)))
    """
)


@pytest.mark.parametrize("kind", ["disk", "sqlite"])
def test_processes_never_share_a_lease(kind: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / ("s.db" if kind == "sqlite" else "store")
    (SQLiteStateStore(path) if kind == "sqlite" else DiskStateStore(path)).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, kind, str(path), f"p{n}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    won = [set(map(int, proc.communicate(timeout=120)[0].split())) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    assert sum(len(w) for w in won) == 200  # every id claimed exactly once
    assert set().union(*won) == set(range(200))


def test_claim_ready_claims_the_root_of_a_ready_child(any_store: StateStore) -> None:
    store = any_store
    root = header(1, children=("root/1",))
    child = dataclasses.replace(header(1, events=("go",)), parent="root")
    assert store.commit("root", 0, root, snap(1))
    assert store.commit("root/1", 0, child, snap(1))
    store.publish("root/1", "e1", "go", ev("go"))
    assert store.claim_ready(T0, "w1", LATER, 10, programs=["other:program"]) == []
    assert store.lease("root") is None
    assert store.claim_ready(T0, "w1", LATER, 10, programs=[root.program]) == ["root"]
    assert store.lease("root/1") is None  # the child is run by its root's run


def test_claim_read_claims_and_reads_in_one_call(any_store: StateStore) -> None:
    store = any_store
    assert store.commit("i", 0, header(1, events=("go",)), snap(1))
    store.publish("i", "e1", "go", ev("go"))
    stored = store.claim_read("i", "w1", T0, LATER)
    assert stored is not None and stored.seq == 1 and [e.id for e in stored.inbox] == ["e1"]
    assert stored.data == snap(1)
    assert store.claim_read("i", "w2", T0, LATER) is None  # held by w1
    assert [e.name for e in store.read_inbox("i")] == ["go"]
    fresh = store.claim_read("new", "w1", T0, LATER)  # a start: claimed, nothing stored
    assert fresh is not None and fresh.data is None and fresh.header is None


def test_renew_extends_only_a_lease_still_held(any_store: StateStore) -> None:
    store = any_store
    assert not store.renew("i", "w1", LATER)  # never claimed: renewing takes nothing
    assert store.lease("i") is None
    assert store.claim("i", "w1", T0, LATER)
    later = LATER + timedelta(minutes=1)
    assert store.renew("i", "w1", later)
    held = store.lease("i")
    assert held is not None and (held.owner, held.until) == ("w1", later)
    assert not store.renew("i", "w2", later)  # not its lease
    store.release("i", "w1")
    assert not store.renew("i", "w1", later)  # released: a late renewal takes nothing back
    assert store.lease("i") is None
    assert store.claim("i", "w2", T0, LATER)
    assert not store.renew("i", "w1", later)  # taken over
