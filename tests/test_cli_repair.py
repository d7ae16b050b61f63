"""``durable edit``, ``durable retry`` and ``durable fork``, run as real subprocesses against a
DiskStateStore holding a failed instance of `programs.repairable.order`."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
from programs import repairable

from durable import DiskStateStore, DurableBackend, PauseForEventException

HERE = pathlib.Path(__file__).resolve().parent
ENV = {
    **{k: v for k, v in os.environ.items() if k not in ("DURABLE_STORE", "REPAIRABLE_FIXED")},
    "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent)]),
}
CODE = ("--import", "programs.repairable")


def cli(*args: str | pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "durable", *map(str, args)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def _failed(path: pathlib.Path, instance_id: str) -> DiskStateStore:
    store = DiskStateStore(path)
    backend = DurableBackend(store)
    with pytest.raises(PauseForEventException):
        await repairable.order(150, "n", orchestration_backend=backend, instance_id=instance_id)
    await backend.publish(instance_id, "approve", 0)
    with pytest.raises(ValueError, match="cannot charge 150"):
        await repairable.order.resume(orchestration_backend=backend, instance_id=instance_id)
    return store


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_edit_then_retry_then_fork(tmp_path: pathlib.Path) -> None:
    store = await _failed(tmp_path, "o1")
    before = store.read("o1"), store.read_history("o1")
    refused = cli("edit", "o1", "--frame", "1", "--set", 'amount="lots"', "--why", "w",
                  "--store", tmp_path, *CODE)  # fmt: skip
    assert refused.returncode == 1 and "it holds a int, not a str" in refused.stderr
    assert (store.read("o1"), store.read_history("o1")) == before  # nothing written

    edited = cli("edit", "o1", "--frame", "1", "--set", "amount=30", "--why", "too much",
                 "--by", "ada", "--store", tmp_path, *CODE)  # fmt: skip
    assert edited.returncode == 0, edited.stderr
    assert "edited 'o1' frame 1 (programs.repairable:_charge) by ada" in edited.stdout
    assert "amount: 150 -> 30" in edited.stdout and "stays failed" in edited.stdout

    retried = cli("retry", "o1", "--run", "--store", tmp_path, *CODE)
    assert retried.returncode == 0, retried.stderr
    assert "retried 'o1' from the call stack edited at checkpoint" in retried.stdout
    assert "resumed: it completed with 'n: charged 30'" in retried.stdout

    forked = cli("fork", "o1", "o2", "--store", tmp_path)
    assert forked.returncode == 0, forked.stderr
    assert "to 'o2' (completed)" in forked.stdout
    again = cli("retry", "o1", "--store", tmp_path)
    assert again.returncode == 1 and "is completed, not failed" in again.stderr
    kinds = [e["kind"] for e in DurableBackend(store).read_history("o1")]
    assert {"instance.edited", "instance.retried", "instance.forked"} <= set(kinds)
