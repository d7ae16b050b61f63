"""Retained checkpoints, on every store: the last `keep_checkpoints` superseded ones."""

from __future__ import annotations

import pathlib

import pytest
from test_contract import header, snap

from durable.stores import DiskStateStore, InMemoryStateStore, SQLiteStateStore, StateStore


def _commit_many(store: StateStore, instance_id: str, count: int) -> None:
    for seq in range(1, count + 1):
        assert store.commit(instance_id, seq - 1, header(seq), snap(seq))


def test_the_last_ten_superseded_checkpoints_are_kept_by_default(store: StateStore) -> None:
    assert store.keep_checkpoints == 10
    _commit_many(store, "a", 14)
    kept = store.checkpoints("a")
    assert [h.seq for h, _ in kept] == list(range(4, 14))  # oldest first; 14 is current
    assert all(data == snap(h.seq) for h, data in kept)
    assert store.checkpoint("a", 14) == (header(14), snap(14))
    assert store.checkpoint("a", 4) == (header(4), snap(4))
    assert store.checkpoint("a", 3) is None
    assert store.checkpoints("b") == [] and store.checkpoint("b", 1) is None


def test_a_refused_commit_keeps_nothing_more(store: StateStore) -> None:
    _commit_many(store, "a", 3)
    assert not store.commit("a", 1, header(2), snap(2))
    assert [h.seq for h, _ in store.checkpoints("a")] == [1, 2]


def _stores(kind: str, path: pathlib.Path, keep: int) -> StateStore:
    if kind == "memory":
        return InMemoryStateStore(keep_checkpoints=keep)
    if kind == "disk":
        return DiskStateStore(path / "d", keep_checkpoints=keep)
    return SQLiteStateStore(path / "s.db", keep_checkpoints=keep)


@pytest.mark.parametrize("kind", ["memory", "disk", "sqlite"])
@pytest.mark.parametrize("keep", [0, 1, 3])
def test_keep_checkpoints_is_a_store_setting(kind: str, keep: int, tmp_path: pathlib.Path) -> None:
    store = _stores(kind, tmp_path, keep)
    try:
        _commit_many(store, "a", 6)
        assert [h.seq for h, _ in store.checkpoints("a")] == list(range(6 - keep, 6))
    finally:
        store.close()


def test_bad_keep_checkpoints_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="keep_checkpoints"):
        InMemoryStateStore(keep_checkpoints=-1)
    with pytest.raises(ValueError, match="keep_checkpoints"):
        DiskStateStore(tmp_path, keep_checkpoints=True)


def test_a_disk_rewrite_keeps_the_last_checkpoints_and_reopens_them(
    tmp_path: pathlib.Path,
) -> None:
    store = DiskStateStore(tmp_path, keep_checkpoints=3)
    big = b'{"seq": %d, "pad": "' + b"x" * 4000 + b'"}'
    for seq in range(1, 40):  # far past the 32 KiB at which the journal is rewritten
        assert store.commit("a", seq - 1, header(seq), big % seq)
    size = next(tmp_path.glob("i_a.log")).stat().st_size
    assert size < 3 * 32 * 1024  # rewritten: not every superseded record is there
    reopened = DiskStateStore(tmp_path, keep_checkpoints=3)
    for each in (store, reopened):
        assert [(h.seq, d) for h, d in each.checkpoints("a")] == [
            (seq, big % seq) for seq in (36, 37, 38)
        ]
        assert each.read("a").seq == 39
