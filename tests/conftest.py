"""Shared pytest configuration.

Async tests need no marker: ``anyio_mode = "auto"`` in pyproject.toml runs each of them on
asyncio and on trio.

``store`` is a fresh store of every kind (ids ``memory``, ``disk``, ``sqlite`` and
``postgres``), closed after the test: the contract suite in ``tests/stores/test_contract.py``
runs on each. ``postgres`` runs only the contract and lease suites in the default tier, the
other tests with ``--exhaustive`` (`POSTGRES_DEFAULT_TIER`). It is a `PostgresStateStore` in
a schema of its own on the server ``DURABLE_TEST_POSTGRES`` names (default
``postgresql://postgres@127.0.0.1:5432/test``); without a reachable server the test is
skipped with the reason, unless ``CI`` is set: then it fails.

Two tiers. By default the suite runs quickly and still covers every feature on both runtimes
and every store. Tests marked ``exhaustive`` (the full differential cross product, thousands
of generated programs, long crash loops, every offset of the journal damage tests, the full
hypothesis example counts) are deselected unless pytest runs with ``--exhaustive``; CI runs
them as an extra step with ``-m exhaustive --exhaustive``.
"""

from __future__ import annotations

import os
import pathlib
import uuid
from collections.abc import Iterator

import pytest
from storekit import POSTGRES_DSN, PostgresAdmin, make_store

from durable.stores import (
    StateStore,
)

EXHAUSTIVE_HINT = "run them with --exhaustive (only them: -m exhaustive --exhaustive)"
_deselected = pytest.StashKey[int]()  # how many exhaustive tests this run left out


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--exhaustive",
        action="store_true",
        default=False,
        help="also run the tests marked 'exhaustive' (deselected by default)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without --exhaustive, deselect the tests marked ``exhaustive``."""
    if config.getoption("exhaustive"):
        return
    kept, deselected = [], []
    for item in items:
        exhaustive = item.get_closest_marker("exhaustive") or _postgres_elsewhere(item)
        (deselected if exhaustive else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
        config.stash[_deselected] = len(deselected)


# The suites that run on PostgreSQL in the default tier too (tests/stores/test_postgres.py
# needs no fixture parameter); every other test of the ``store`` fixture runs on it only with
# --exhaustive: on all of them PostgreSQL adds about 45 s to the default run.
POSTGRES_DEFAULT_TIER = {"test_contract", "test_leases"}


def _postgres_elsewhere(item: pytest.Item) -> bool:
    params = getattr(getattr(item, "callspec", None), "params", {})
    on_postgres = "postgres" in (params.get("store"), params.get("any_store"))
    module = getattr(getattr(item, "module", None), "__name__", "")
    return on_postgres and module not in POSTGRES_DEFAULT_TIER


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    count = terminalreporter.config.stash.get(_deselected, 0)
    if count:
        terminalreporter.write_line(
            f"{count} tests of the exhaustive tier were deselected: {EXHAUSTIVE_HINT}"
        )




@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[PostgresAdmin]:
    """Skips (fails in CI) when no server answers at ``DURABLE_TEST_POSTGRES``."""
    import psycopg

    try:
        admin = PostgresAdmin()
    except psycopg.Error as e:
        reason = f"no PostgreSQL server at {POSTGRES_DSN} (set DURABLE_TEST_POSTGRES): {e}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so the PostgreSQL tests must run", False)
        pytest.skip(reason)
    yield admin
    admin.close()


@pytest.fixture
def postgres_dsn(postgres_admin: PostgresAdmin) -> str:
    """The test server's DSN (skips, or fails in CI, without a server)."""
    return POSTGRES_DSN


@pytest.fixture
def postgres_schema(postgres_admin: PostgresAdmin) -> Iterator[str]:
    """A fresh schema name, dropped with everything in it after the test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name
    postgres_admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


_free_schemas: list[str] = []  # store schemas emptied after their test, for the next one
_EMPTY = "; ".join(
    f"DELETE FROM {{s}}.{table}"
    for table in ("instances", "inbox", "history", "waits", "children", "leases", "checkpoints")
)


@pytest.fixture
def store_schema(postgres_admin: PostgresAdmin) -> Iterator[str]:
    """A schema with no instances for the ``store`` fixture. Creating a schema costs tens of
    milliseconds of DDL, emptying one a fraction of one: a schema is emptied after its test
    and handed to the next (dropped instead if emptying fails, and all at the end)."""
    import psycopg

    name = _free_schemas.pop() if _free_schemas else f"t_{uuid.uuid4().hex[:16]}"
    yield name
    try:
        postgres_admin.execute(_EMPTY.replace("{s}", name))
    except psycopg.Error:
        postgres_admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    else:
        _free_schemas.append(name)


@pytest.fixture(scope="session", autouse=True)
def _drop_store_schemas() -> Iterator[None]:
    yield
    if _free_schemas:
        admin = PostgresAdmin()
        for name in _free_schemas:
            admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        admin.close()
        _free_schemas.clear()


@pytest.fixture(params=["memory", "disk", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[StateStore]:
    made = make_store(request.param, request, tmp_path)
    yield made
    made.close()
