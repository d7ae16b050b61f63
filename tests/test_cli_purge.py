"""``durable delete`` and ``durable purge``, run as real subprocesses against a DiskStateStore
and an SQLite store."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import pathlib
from datetime import UTC, datetime, timedelta

import pytest
from stores.test_contract import header, snap
from test_cli_repair import cli as real_cli

from durable._cli import main
from durable.stores import DiskStateStore, SQLiteStateStore, StateStore


@dataclasses.dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str | pathlib.Path) -> Done:
    """``durable ARGS`` in this process (fast); `real_cli` runs it as a process."""
    out, err = io.StringIO(), io.StringIO()
    logger = logging.getLogger("durable")
    level = logger.level
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
    finally:
        logger.setLevel(level)  # the CLI silences durable's logging
    return Done(code, out.getvalue(), err.getvalue())


def _put(store: StateStore, instance_id: str, status: str, age: timedelta, **more: object) -> None:
    made = dataclasses.replace(
        header(1, status),  # type: ignore[arg-type]
        updated_at=datetime.now(UTC) - age,
        **more,  # type: ignore[arg-type]
    )
    assert store.commit(instance_id, 0, made, snap(1), (), [b'"made"'])


def _populate(path: pathlib.Path, kind: str) -> pathlib.Path:
    store = DiskStateStore(path) if kind == "disk" else SQLiteStateStore(path)
    _put(store, "old-1", "completed", timedelta(days=40))
    _put(store, "old-2", "completed", timedelta(days=31))
    _put(store, "new", "completed", timedelta(days=2))
    _put(store, "failed", "failed", timedelta(days=40))
    _put(store, "waiting", "paused", timedelta(days=40), children=("waiting/0",))
    _put(store, "waiting/0", "paused", timedelta(days=40), parent="waiting")
    _put(store, "busy", "running", timedelta(days=1))
    store.close()
    return path


@pytest.fixture(params=["disk", "sqlite"])
def location(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> pathlib.Path:
    return _populate(tmp_path / f"state-{request.param}", request.param)


def _ids(path: pathlib.Path) -> list[str]:
    listed = cli("list", "--json", "--store", path)
    assert listed.returncode == 0, listed.stderr
    return sorted(row["instance_id"] for row in json.loads(listed.stdout))


def test_delete(location: pathlib.Path) -> None:
    done = cli("delete", "old-1", "--store", location)
    assert (done.returncode, done.stdout, done.stderr) == (0, "deleted 'old-1'\n", "")
    missing = cli("delete", "old-1", "--store", location)
    assert missing.returncode == 1
    assert (
        missing.stderr == "durable: error: instance 'old-1' has nothing stored; nothing deleted\n"
    )
    running = cli("delete", "busy", "--store", location)
    assert running.returncode == 1 and "'busy' is running" in running.stderr
    child = cli("delete", "waiting/0", "--store", location)
    assert child.returncode == 1 and "--cascade" in child.stderr
    parent = cli("delete", "waiting", "--store", location)
    assert parent.returncode == 1 and "waits for its children 'waiting/0'" in parent.stderr
    assert _ids(location) == ["busy", "failed", "new", "old-2", "waiting", "waiting/0"]
    tree = cli("delete", "waiting", "--cascade", "--store", location)
    assert tree.stdout == "deleted 'waiting/0'\ndeleted 'waiting'\n", tree.stderr
    forced = cli("delete", "busy", "--force", "--json", "--store", location)
    assert json.loads(forced.stdout) == {"deleted": ["busy"]}
    assert _ids(location) == ["failed", "new", "old-2"]


def test_purge_is_a_dry_run_unless_yes(location: pathlib.Path) -> None:
    before = _ids(location)
    dry = cli("purge", "--older-than", "30d", "--store", location)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "PROGRAM", "UPDATED"]
    assert [line.split()[:2] for line in lines[1:3]] == [
        ["old-1", "completed"],
        ["old-2", "completed"],
    ]
    assert lines[3].startswith(
        "dry run: nothing deleted; add --yes to delete these 2 completed instances last "
        "updated before "
    )
    assert _ids(location) == before
    done = cli("purge", "--older-than", "30d", "--yes", "--store", location)
    assert done.stdout.splitlines()[-1] == "deleted 2 of them", done.stderr
    assert _ids(location) == ["busy", "failed", "new", "waiting", "waiting/0"]
    again = cli("purge", "--older-than", "30d", "--store", location)
    assert again.stdout.startswith("no completed instances last updated before ")


def test_purge_statuses_and_json(location: pathlib.Path) -> None:
    done = cli("purge", "--status", "failed", "--status", "paused", "--older-than", "720h",
               "--yes", "--json", "--store", location)  # fmt: skip
    assert json.loads(done.stdout) == {
        "dry_run": False,
        "found": ["waiting/0", "failed", "waiting"],
        "deleted": ["waiting/0", "failed", "waiting"],
    }


@pytest.mark.parametrize("bad", ["30", "30 days", "-1d", "1.5h", "d", "30w"])
def test_purge_refuses_a_bad_duration(tmp_path: pathlib.Path, bad: str) -> None:
    done = cli("purge", f"--older-than={bad}", "--store", tmp_path)
    assert done.returncode == 2 and "not a duration" in done.stderr


def test_purge_as_a_process(tmp_path: pathlib.Path) -> None:
    location = _populate(tmp_path / "state.db", "sqlite")
    dry = real_cli("purge", "--older-than", "30d", "--store", location)
    assert dry.returncode == 0 and "dry run: nothing deleted" in dry.stdout, dry.stderr
    done = real_cli("purge", "--older-than", "30d", "--yes", "--store", location)
    assert done.returncode == 0 and "deleted 2 of them" in done.stdout, done.stderr
    refused = real_cli("delete", "busy", "--store", location)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith("durable: error: instance 'busy' is running")


def test_purge_reads_each_unit() -> None:
    from durable._cli._purge import duration

    assert [duration(t) for t in ("30d", "12h", "90m", "45s")] == [
        timedelta(days=30),
        timedelta(hours=12),
        timedelta(minutes=90),
        timedelta(seconds=45),
    ]
