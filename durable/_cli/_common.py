"""What every command of the CLI shares: exit codes, the error it reports, its options."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import NoReturn, TypeAlias

from durable.stores import DiskStateStore, PostgresStateStore, SQLiteStateStore

PROG = "durable"
EXIT_FAILED = 1
EXIT_USAGE = 2
STATUSES = ("running", "paused", "completed", "failed", "cancelled", "corrupt")


class CliError(Exception):
    """A failure shown as one line on stderr; `code` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')", EXIT_USAGE)


@dataclasses.dataclass(frozen=True)
class _Options:
    store: str | None
    json: bool
    imports: list[str]


_Store: TypeAlias = DiskStateStore | SQLiteStateStore | PostgresStateStore


def _where(store: _Store) -> str:
    """How messages name a store: its path, or its server (no password) and schema."""
    return store.location if isinstance(store, PostgresStateStore) else str(store.path)


Command = Callable[[_Store, argparse.Namespace, _Options], None]
