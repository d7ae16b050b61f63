"""The ``server`` fixture: a real ``durable dashboard`` subprocess over a real SQLite store
holding an instance of each kind (`programs.dashboard_flows.populate`)."""

from __future__ import annotations

import os
import pathlib
import socket
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a ``durable dashboard`` subprocess over a populated SQLite store."""
    path = tmp_path_factory.mktemp("browser") / "app.db"
    store = SQLiteStateStore(path)
    anyio.run(populate, store)
    store.close()
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    command = [sys.executable, "-m", "durable", "--store", str(path)]
    command += ["--import", "programs.dashboard_flows", "dashboard", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, url)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_until_up(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"the dashboard exited: {err.decode(errors='replace')}")
        try:
            if httpx.get(url + "/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the dashboard did not answer at {url} within 60 s")
