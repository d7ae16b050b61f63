"""The seed methods of the stores (load/save, the inbox, the history, list_instances) on
every store of the ``store`` fixture (``tests/conftest.py``), and the defaults of `StateStore`.

The contract the runtime calls (read, commit, publish, ready) is in ``test_contract.py``; the
disk store's files, journal and crash safety in ``test_disk.py``.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_contract import HOSTILE_IDS, LoadSaveStore, header

import durable.stores._contract as contract_module
from durable.errors import InvalidInstanceIdError
from durable.stores import DiskStateStore, StateStore, new_event_id


def ev(value: bytes) -> bytes:
    """Event data as the seed method ``add_event`` takes it: JSON that names the event."""
    return json.dumps({"name": "ev", "value": value.hex()}).encode()


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
    store.add_event("one", "e1", ev(b"event"))
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
    event = bytearray(ev(b"event"))
    store.add_event("inst", "e", event)  # type: ignore[arg-type]
    event[:] = b"EVENT"
    assert store.list_events("inst") == [("e", ev(b"event"))]


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
    store.add_event("events-only", "e", ev(b""))  # an inbox or history alone is no instance
    store.append_history("history-only", b"1")
    assert store.list_instances() == sorted(["b", "a", "B", "", "x" * 10_000])


# ------------------------------------------------------------------------------------------
# Instance ids
# ------------------------------------------------------------------------------------------


def test_hostile_ids_round_trip_distinctly(store: StateStore) -> None:
    assert len(set(HOSTILE_IDS)) == len(HOSTILE_IDS)
    for n, instance_id in enumerate(HOSTILE_IDS):
        store.save(instance_id, b"snapshot %d" % n)
        store.add_event(instance_id, "e", ev(b"event %d" % n))
        store.append_history(instance_id, b"history %d" % n)
    for n, instance_id in enumerate(HOSTILE_IDS):
        assert store.load(instance_id) == b"snapshot %d" % n, repr(instance_id)
        assert store.list_events(instance_id) == [("e", ev(b"event %d" % n))]
        assert store.read_history(instance_id) == [b"history %d" % n]
    assert store.list_instances() == sorted(HOSTILE_IDS)
    for instance_id in HOSTILE_IDS:
        store.delete_events(instance_id, ["e"])
        assert store.list_events(instance_id) == []


@pytest.mark.parametrize("bad", [None, 1, 1.5, b"bytes", ["a"], ("a",), object()])
def test_non_str_ids_are_rejected(store: StateStore, bad: object) -> None:
    calls: list[Callable[[Any], object]] = [
        lambda i: store.load(i),
        lambda i: store.save(i, b"x"),
        lambda i: store.add_event(i, "e", ev(b"x")),
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
    store.add_event("inst", "0002", ev(b"second"))
    store.add_event("inst", "0001", ev(b"first"))
    store.add_event("inst", "0003", ev(b"\x00\xff"))
    assert store.list_events("inst") == [
        ("0001", ev(b"first")),
        ("0002", ev(b"second")),
        ("0003", ev(b"\x00\xff")),
    ]
    store.delete_events("inst", ["0001", "0003"])
    assert store.list_events("inst") == [("0002", ev(b"second"))]


def test_adding_an_existing_event_id_replaces_it(store: StateStore) -> None:
    store.add_event("inst", "e", ev(b"old"))
    store.add_event("inst", "e", ev(b"new"))
    assert store.list_events("inst") == [("e", ev(b"new"))]


def test_deleting_missing_events_is_fine(store: StateStore) -> None:
    store.delete_events("never-had-events", ["nope"])
    store.add_event("inst", "e1", ev(b"x"))
    store.delete_events("inst", ["nope", "e1", "e1"])
    store.delete_events("inst", [])
    assert store.list_events("inst") == []


def test_events_are_isolated_between_instances(store: StateStore) -> None:
    store.add_event("one", "e", ev(b"for one"))
    store.add_event("two", "e", ev(b"for two"))
    store.delete_events("one", ["e"])
    assert store.list_events("one") == []
    assert store.list_events("two") == [("e", ev(b"for two"))]


def test_events_do_not_touch_the_snapshot(store: StateStore) -> None:
    store.save("inst", b"snap")
    store.add_event("inst", "e", ev(b"event"))
    assert store.load("inst") == b"snap"
    store.save("inst", b"snap 2")
    assert store.list_events("inst") == [("e", ev(b"event"))]


def test_odd_event_ids_round_trip(store: StateStore) -> None:
    odd = ["", "../e", "E", "e", "x" * 500, "\ud800", "a/b"]
    for n, event_id in enumerate(odd):
        store.add_event("inst", event_id, ev(b"%d" % n))
    assert store.list_events("inst") == sorted((e, ev(b"%d" % n)) for n, e in enumerate(odd))
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
        store.add_event("inst", event_id, ev(b"%d" % n))
    assert [data for _, data in store.list_events("inst")] == [ev(b"%d" % n) for n in range(250)]


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


class LoadSaveOnlyStore(LoadSaveStore):
    """Not even `list_instances`: the default, which cannot list."""

    list_instances = StateStore.list_instances


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


def test_audit_entries_written_with_saves_and_events_keep_their_order(
    store: StateStore,
) -> None:
    """`commit` and `publish` carry audit entries; across many saves (and, on disk, journal
    rewrites that move them to the history file) they read back once each, in order."""
    expected = []
    for n in range(300):
        store.publish("i", f"e{n:03d}", "go", b"x" * 40, [b'{"published": %d}' % n])
        entries = [b'{"saved": %d, "part": %d}' % (n, part) for part in range(3)]
        snapshot = b"%d" % n + b"." * 500
        assert store.commit("i", n, header(n + 1), snapshot, [f"e{n:03d}"], entries)
        expected += [b'{"published": %d}' % n, *entries]
        if n % 50 == 0:
            assert store.read_history("i") == expected
    assert store.read_history("i") == expected
    assert store.list_events("i") == []
    if isinstance(store, DiskStateStore):
        moved = (store.path / "i_i.history").read_bytes().count(b"\n")
        assert 0 < moved < len(expected)  # most moved by rewrites; the newest still journaled
        assert DiskStateStore(store.path).read_history("i") == expected
