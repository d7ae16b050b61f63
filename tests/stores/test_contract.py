"""The store contract (`StateStore.read`, `commit`, `publish`, `ready`, `read_header`,
`list_headers`) on every store of the ``store`` fixture, and on a user's store with only
``load``/``save``."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from durable._model import InstanceHeader, Status
from durable.errors import InvalidInstanceIdError
from durable.stores import InboxEvent, StateStore, StoredInstance

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

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def header(
    seq: int,
    status: Status = "paused",
    *,
    events: tuple[str, ...] = (),
    wake_at: datetime | None = None,
    children: tuple[str, ...] = (),
    mode: Literal["all", "first"] = "all",
    updated: int = 0,
) -> InstanceHeader:
    return InstanceHeader(
        seq=seq,
        status=status,
        program="tests.module:program",
        created_at=T0,
        updated_at=T0 + timedelta(seconds=updated),
        events=events,
        wake_at=wake_at,
        children=children,
        children_mode=mode,
    )


def snap(seq: int) -> bytes:
    return b'{"seq": %d}' % seq


def ev(name: str, payload: object = None) -> bytes:
    """Event data as the backend writes it: JSON naming the event (stores built on the
    defaults read the name from there)."""
    return json.dumps({"name": name, "payload": payload}).encode()


# ------------------------------------------------------------------------------------------
# read / commit
# ------------------------------------------------------------------------------------------


def test_read_of_an_unknown_id_is_empty(store: StateStore) -> None:
    assert store.read("nobody") == StoredInstance(None, None, ())
    assert store.read("nobody").seq is None
    assert store.read_header("nobody") is None


def test_commit_on_empty_expects_zero(store: StateStore) -> None:
    assert not store.commit("i", 1, header(1), snap(1))
    assert store.read("i") == StoredInstance(None, None, ())
    assert store.commit("i", 0, header(1), snap(1))
    stored = store.read("i")
    assert (stored.header, stored.data, stored.seq) == (header(1), snap(1), 1)
    assert store.read_header("i") == header(1)


def test_a_stale_commit_is_refused_and_writes_nothing(store: StateStore) -> None:
    assert store.commit("i", 0, header(1), snap(1))
    store.publish("i", "e1", "go", ev("go", "one"))
    assert store.commit("i", 1, header(2), snap(2), [], [b'"saved 2"'])
    before = store.read("i")
    history = store.read_history("i")
    for stale in (0, 1, 3):
        assert not store.commit("i", stale, header(9), snap(9), ["e1"], [b'"lost"'])
    assert store.read("i") == before
    assert store.read_history("i") == history == [b'"saved 2"']


def test_consumed_events_leave_with_the_save_and_history_is_appended(
    store: StateStore,
) -> None:
    store.publish("i", "e1", "a", ev("a", "one"), [b'"published 1"'])
    store.publish("i", "e2", "b", ev("b", "two"))
    store.publish("i", "e3", "a", ev("a", "three"))
    assert store.commit("i", 0, header(1), snap(1), ["e1", "e3", "missing"], [b'"s1"'])
    stored = store.read("i")
    assert stored.inbox == (InboxEvent("e2", "b", ev("b", "two")),)
    assert stored.data == snap(1)
    assert store.read_history("i") == [b'"published 1"', b'"s1"']
    assert store.commit("i", 1, header(2), snap(2), ["e2"], [b'"s2"', b'"s2b"'])
    assert store.read("i").inbox == ()
    assert store.read_history("i")[-2:] == [b'"s2"', b'"s2b"']


def test_commit_unless_saves_nothing_when_the_inbox_resolves_the_wait(
    store: StateStore,
) -> None:
    """A pause (`commit_unless`) first shows the whole inbox to ``unless``; an answer other
    than None is returned and nothing is written."""
    assert store.commit("i", 0, header(1, "running"), snap(1), [], [b'"s1"'])
    store.publish("i", "e1", "other", ev("other", 1))
    store.publish("i", "e2", "go", ev("go", 2))
    seen: list[list[tuple[str, str, bytes]]] = []

    def unless(inbox: tuple[InboxEvent, ...]) -> str | None:
        seen.append([(e.id, e.name, e.data) for e in inbox])
        return "resolved by e2" if any(e.name == "go" for e in inbox) else None

    before = store.read("i")
    answer = store.commit_unless(
        "i", 1, header(2, events=("go",)), snap(2), ["e2"], [b'"s2"'], unless=unless
    )
    assert answer == "resolved by e2"
    assert seen == [[("e1", "other", ev("other", 1)), ("e2", "go", ev("go", 2))]]
    assert store.read("i") == before  # same seq, bytes and inbox
    assert store.read_history("i") == [b'"s1"']


def test_commit_unless_commits_as_commit_does_when_nothing_resolves(store: StateStore) -> None:
    assert store.commit("i", 0, header(1, "running"), snap(1))
    store.publish("i", "e1", "other", ev("other"))
    never = lambda inbox: None  # noqa: E731
    paused = header(2, events=("go",))
    assert store.commit_unless("i", 1, paused, snap(2), ["e1"], [b'"s2"'], unless=never) is True
    stored = store.read("i")
    assert (stored.header, stored.data, stored.inbox) == (paused, snap(2), ())
    assert store.read_history("i") == [b'"s2"']
    # a stale pause is refused and writes nothing, like a stale commit
    assert store.commit_unless("i", 1, header(2), snap(9), [], [b'"x"'], unless=never) is False
    assert store.read("i") == stored
    assert store.read_history("i") == [b'"s2"']
    # the pause is found ready once its event arrives
    store.publish("i", "e2", "go", ev("go"))
    assert store.ready(T0) == ["i"]


def test_commit_unless_respects_another_workers_lease(store: StateStore) -> None:
    assert store.commit("i", 0, header(1, "running"), snap(1))
    assert store.claim("i", "w1", T0, T0 + timedelta(minutes=5))
    never = lambda inbox: None  # noqa: E731
    pause = header(2, events=("go",))
    assert not store.commit_unless("i", 1, pause, snap(2), owner="w2", unless=never)
    assert store.read("i").seq == 1
    assert store.commit_unless("i", 1, pause, snap(2), owner="w1", unless=never)
    assert store.lease("i") is None  # a pause ends the lease in the same step


def test_commit_rejects_non_bytes(store: StateStore) -> None:
    with pytest.raises(TypeError):
        store.commit("i", 0, header(1), 5)  # type: ignore[arg-type]
    assert store.read("i").data is None


# ------------------------------------------------------------------------------------------
# publish
# ------------------------------------------------------------------------------------------


def test_publish_keeps_names_in_event_id_order(store: StateStore) -> None:
    store.publish("i", "0002", "second", ev("second", "2"))
    store.publish("i", "0001", "first", ev("first", "\x00\xff"))
    store.publish("i", "0003", "first", ev("first", ""))
    assert store.read("i").inbox == (
        InboxEvent("0001", "first", ev("first", "\x00\xff")),
        InboxEvent("0002", "second", ev("second", "2")),
        InboxEvent("0003", "first", ev("first", "")),
    )
    assert store.read("i").data is None  # an inbox alone is no snapshot


def test_events_of_one_instance_never_reach_another(store: StateStore) -> None:
    store.publish("one", "e", "go", ev("go", "for one"))
    store.publish("two", "e", "go", ev("go", "for two"))
    assert store.commit("one", 0, header(1), snap(1), ["e"])
    assert store.read("one").inbox == ()
    assert store.read("two").inbox == (InboxEvent("e", "go", ev("go", "for two")),)
    assert store.read("three").inbox == ()


def test_publish_with_odd_names_and_ids(store: StateStore) -> None:
    odd = ["", "../e", "E", "e", "x" * 300, "\ud800", "a b,c\n"]
    for n, name in enumerate(odd):
        store.publish("i", f"{n:02d}{name}", name, ev(name, n))
    inbox = store.read("i").inbox
    assert [(e.id, e.name, e.data) for e in inbox] == sorted(
        (f"{n:02d}{name}", name, ev(name, n)) for n, name in enumerate(odd)
    )


# ------------------------------------------------------------------------------------------
# ready
# ------------------------------------------------------------------------------------------


def test_ready_decides_from_headers_and_inbox_names(store: StateStore) -> None:
    now = T0 + timedelta(hours=1)
    past, future = now - timedelta(seconds=1), now + timedelta(hours=1)
    cases = {
        "event-there": header(1, events=("go", "stop"), updated=1),
        "event-other": header(1, events=("go",), updated=2),
        "event-none": header(1, events=("go",), updated=3),
        "wake-past": header(1, wake_at=past, updated=4),
        "wake-now": header(1, wake_at=now, updated=5),
        "wake-future": header(1, wake_at=future, updated=6),
        "kids-done": header(1, children=("k1", "k2"), updated=7),
        "kids-some": header(1, children=("k1", "k3"), updated=8),
        "kids-first": header(1, children=("k1", "k3"), mode="first", updated=9),
        "running-due": header(1, "running", wake_at=past, updated=10),
        "done-with-event": header(1, "completed", events=("go",), updated=11),
        "k1": header(1, "completed"),
        "k2": header(1, "failed"),
        "k3": header(1, "paused", wake_at=future),
    }
    for instance_id, value in cases.items():
        assert store.commit(instance_id, 0, value, snap(1))
    store.publish("event-there", "e1", "stop", ev("stop", ""))
    store.publish("event-other", "e1", "went", ev("went", ""))
    store.publish("done-with-event", "e1", "go", ev("go", ""))
    expected = ["event-there", "wake-past", "wake-now", "kids-done", "kids-first"]
    assert store.ready(now) == expected  # oldest update first
    assert store.ready(now, limit=2) == expected[:2]
    assert store.ready(now - timedelta(days=1)) == ["event-there", "kids-done", "kids-first"]


def test_ready_follows_commits_and_publishes(store: StateStore) -> None:
    assert store.ready(T0) == []
    assert store.commit("i", 0, header(1, events=("go",)), snap(1))
    assert store.ready(T0) == []
    store.publish("i", "e1", "go", ev("go", ""))
    assert store.ready(T0) == ["i"]
    assert store.commit("i", 1, header(2, "running"), snap(2), ["e1"])
    assert store.ready(T0) == []


# ------------------------------------------------------------------------------------------
# ids
# ------------------------------------------------------------------------------------------


def test_hostile_ids_keep_their_own_state(store: StateStore) -> None:
    for n, instance_id in enumerate(HOSTILE_IDS):
        assert store.commit(instance_id, 0, header(n + 1, events=("go",)), snap(n))
        store.publish(instance_id, f"e{n}", "go", ev("go", n), [b"%d" % n])
    for n, instance_id in enumerate(HOSTILE_IDS):
        stored = store.read(instance_id)
        assert stored.data == snap(n), repr(instance_id)
        assert stored.seq == n + 1
        assert stored.inbox == (InboxEvent(f"e{n}", "go", ev("go", n)),)
        assert store.read_header(instance_id) == header(n + 1, events=("go",))
        assert store.read_history(instance_id) == [b"%d" % n]
    assert sorted(store.ready(T0)) == sorted(HOSTILE_IDS)
    assert store.list_instances() == sorted(HOSTILE_IDS)


# ------------------------------------------------------------------------------------------
# list_headers: pages of (id, header) in id order, filtered (what the dashboard lists)
# ------------------------------------------------------------------------------------------

LISTED_IDS = ["", ".", "a/1", "a\n", "b", "x" * 300, "é", "\ud800", "\U0001f600"]


def _fill_listed(store: StateStore) -> dict[str, InstanceHeader]:
    made = {}
    for n, instance_id in enumerate(LISTED_IDS):
        status: Status = "paused" if n % 2 else "completed"
        made[instance_id] = dataclasses.replace(header(1, status), program=f"m:p{n % 3}")
        assert store.commit(instance_id, 0, made[instance_id], snap(1))
    return made


def test_list_headers_pages_walk_every_instance_in_id_order(store: StateStore) -> None:
    made = _fill_listed(store)
    seen: list[tuple[str, InstanceHeader | None]] = []
    after = None
    while page := store.list_headers(after=after, limit=2):
        assert len(page) <= 2
        seen += page
        after = page[-1][0]
    assert seen == sorted(made.items())
    assert store.list_headers(limit=100) == seen
    assert store.list_headers(limit=0) == []


def test_list_headers_filters_by_status_and_program(store: StateStore) -> None:
    made = _fill_listed(store)
    for status in ("paused", "completed", "failed"):
        for program in (None, "m:p1", "m:nope"):
            want = [
                (i, h)
                for i, h in sorted(made.items())
                if h.status == status and program in (None, h.program)
            ]
            assert store.list_headers(status=status, program=program) == want
    paused = [i for i, h in sorted(made.items()) if h.status == "paused"]
    first = store.list_headers(status="paused", limit=1)
    assert [i for i, _ in first] == paused[:1]
    rest = store.list_headers(status="paused", after=paused[0])
    assert [i for i, _ in rest] == paused[1:]


def test_list_headers_lists_a_snapshot_saved_without_a_header_with_none(
    store: StateStore,
) -> None:
    _fill_listed(store)
    store.save("legacy", snap(3))
    listed = dict(store.list_headers(limit=100))
    assert "legacy" in listed and listed["legacy"] is None
    assert "legacy" not in dict(store.list_headers(status="paused", limit=100))


@pytest.mark.parametrize("bad", [None, 1, b"bytes", ("a",)])
def test_non_str_ids_are_rejected_by_the_operations(store: StateStore, bad: object) -> None:
    for call in (
        lambda: store.read(bad),  # type: ignore[arg-type]
        lambda: store.commit(bad, 0, header(1), b"x"),  # type: ignore[arg-type]
        lambda: store.publish(bad, "e", "go", ev("go", "x")),  # type: ignore[arg-type]
        lambda: store.read_header(bad),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidInstanceIdError):
            call()


# ------------------------------------------------------------------------------------------
# A user's store: only load/save (and list_instances, for ready), the rest from the defaults
# ------------------------------------------------------------------------------------------


class LoadSaveStore(StateStore):
    blocking = False

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def load(self, instance_id: str) -> bytes | None:
        return self.data.get(instance_id)

    def save(self, instance_id: str, data: bytes) -> None:
        self.data[instance_id] = bytes(data)

    def list_instances(self) -> list[str]:
        derived = ("\x00inbox", "\x00history", "\x00header")
        return sorted(k for k in self.data if not k.endswith(derived))


CORE: list[Callable[[StateStore], None]] = [
    test_read_of_an_unknown_id_is_empty,
    test_commit_on_empty_expects_zero,
    test_a_stale_commit_is_refused_and_writes_nothing,
    test_consumed_events_leave_with_the_save_and_history_is_appended,
    test_publish_keeps_names_in_event_id_order,
    test_events_of_one_instance_never_reach_another,
    test_ready_decides_from_headers_and_inbox_names,
    test_ready_follows_commits_and_publishes,
    test_hostile_ids_keep_their_own_state,
    test_list_headers_pages_walk_every_instance_in_id_order,
    test_list_headers_filters_by_status_and_program,
]


@pytest.mark.parametrize("test", CORE, ids=lambda test: test.__name__[5:])
def test_a_store_with_only_load_and_save_passes_the_core_operations(
    test: Callable[[StateStore], None],
) -> None:
    """The defaults of `StateStore` build read/commit/publish/ready on load and save."""
    user_store = LoadSaveStore()
    test(user_store)
    assert set(user_store.data) >= {k + "\x00header" for k in user_store.list_instances()}
