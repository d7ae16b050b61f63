"""`durable delete` and `durable purge`: remove instances and everything stored for them.

Both call the `DurableBackend` method of the same name. ``purge`` is a dry run unless
``--yes``: it lists what would go and deletes nothing. Neither runs durable code.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import timedelta

import anyio

from durable._model import STATUSES, InstanceHeader
from durable._runtime import DurableBackend

from ._common import Command, _Options, _Store
from ._output import _print_json, _print_table, _quote, _show_id, _when

__all__ = ["duration", "register"]

_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def register(
    command: Callable[[str, Command, str], argparse.ArgumentParser],
    argument: Callable[[str], str],
) -> None:
    """Add ``delete`` and ``purge`` to the parser (``command`` makes one sub-command)."""
    cmd = command("delete", _cmd_delete, "delete an instance and everything stored for it")
    cmd.add_argument("instance_id", metavar="ID", type=argument)
    cmd.add_argument(
        "--force",
        action="store_true",
        help="delete even a running instance, a child whose parent waits for it, or a parent "
        "without its children",
    )
    cmd.add_argument("--cascade", action="store_true", help="delete its descendants too")
    cmd.add_argument("--by", help="the operator (default: the OS user)")
    cmd.add_argument("--why", help="the reason, logged with the deletion")
    cmd = command("purge", _cmd_purge, "delete old instances (a dry run unless --yes)")
    cmd.add_argument(
        "--status",
        action="append",
        choices=STATUSES,
        help="a status to purge (repeatable; default: completed)",
    )
    cmd.add_argument(
        "--older-than",
        required=True,
        type=duration,
        metavar="AGE",
        help="last updated longer ago than this: 30d, 12h, 90m, 45s",
    )
    cmd.add_argument("--program", metavar="MODULE:FUNCTION", help="only this program")
    cmd.add_argument("--yes", action="store_true", help="delete them (otherwise: a dry run)")


def duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``45s`` as a timedelta."""
    match = re.fullmatch(r"(\d+)([dhms])", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (a whole number and a unit: 30d, 12h, 90m, 45s)"
        )
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def _cmd_delete(store: _Store, args: argparse.Namespace, opts: _Options) -> None:
    backend = DurableBackend(store)

    async def delete() -> list[str]:
        return await backend.delete(
            args.instance_id, force=args.force, cascade=args.cascade, by=args.by, reason=args.why
        )

    deleted = anyio.run(delete)
    if opts.json:
        _print_json({"deleted": deleted})
        return
    for gone in deleted:
        print(f"deleted {_quote(gone)}")


def _cmd_purge(store: _Store, args: argparse.Namespace, opts: _Options) -> None:
    backend = DurableBackend(store)
    statuses = tuple(args.status or ("completed",))

    async def purge(dry_run: bool) -> list[str]:
        return await backend.purge(
            status=statuses, older_than=args.older_than, program=args.program, dry_run=dry_run
        )

    found = anyio.run(purge, True)
    headers = {i: store.read_header(i) for i in found}
    deleted = anyio.run(purge, False) if args.yes else []
    if opts.json:
        _print_json({"dry_run": not args.yes, "found": found, "deleted": deleted})
        return
    cutoff = _when(backend.clock.now() - args.older_than)
    what = f"{' or '.join(statuses)} instances last updated before {cutoff}"
    if not found:
        print(f"no {what}")
        return
    rows = [_row(i, headers.get(i)) for i in found]
    _print_table(("ID", "STATUS", "PROGRAM", "UPDATED"), rows, status_column=1)
    if not args.yes:
        print(f"dry run: nothing deleted; add --yes to delete these {len(found)} {what}")
        return
    print(f"deleted {len(deleted)} of them")
    gone = set(deleted)
    for kept in (i for i in found if i not in gone):
        print(f"kept {_quote(kept)}: it changed or was claimed since it was listed")


def _row(instance_id: str, header: InstanceHeader | None) -> list[str]:
    if header is None:
        return [_show_id(instance_id), "-", "-", "-"]
    return [_show_id(instance_id), header.status, header.program, _when(header.updated_at)]
