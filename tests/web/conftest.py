"""The ``server`` fixture: a real ``durable dashboard`` subprocess over a real SQLite store
holding an instance of each kind (`programs.dashboard_flows.populate`)."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest
from programs.dashboard_flows import populate

from durable import SQLiteStateStore

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a ``durable dashboard`` subprocess over a populated SQLite store."""
    path = tmp_path_factory.mktemp("browser") / "app.db"
    store = SQLiteStateStore(path)
    anyio.run(populate, store)
    store.close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    command = [sys.executable, "-m", "durable", "--store", str(path)]
    command += ["--import", "programs.dashboard_flows", "dashboard", "--port", "0"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield _url_when_up(process)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _url_when_up(process: subprocess.Popen[str]) -> str:
    """The URL the server prints on its first line, once it answers there."""
    assert process.stdout is not None
    line = process.stdout.readline()  # written once the port is bound
    match = re.search(r"http://\S+/", line)
    if match is None:
        process.kill()
        _, err = process.communicate()
        raise AssertionError(f"the dashboard did not start: {line!r} {err}")
    url = match[0].rstrip("/")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/", timeout=5).status_code == 200:
                return url
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the dashboard did not answer at {url} within 60 s")
