"""`durable rehome`: rename the ``__main__`` references saved for instances (`durable.rehome`)."""

from __future__ import annotations

import argparse
import sys

from durable._importname import is_module_name
from durable._runtime import Rehomed, rehome
from durable.errors import DurableError

from ._common import EXIT_FAILED, EXIT_USAGE, CliError, _Options, _Store
from ._output import _print_json, _quote


def module_argument(text: str) -> str:
    """``--module``: the dotted name a worker imports the script's module by."""
    if not is_module_name(text) or text == "__main__":
        raise argparse.ArgumentTypeError(f"not an importable module name: {text!r}")
    return text


def _cmd_rehome(store: _Store, args: argparse.Namespace, opts: _Options) -> None:
    ids: list[str] = args.instance_ids
    if bool(ids) == bool(args.all):
        raise CliError("name the instances to rehome, or pass --all (not both)", EXIT_USAGE)
    done: list[Rehomed] = []
    skipped: list[str] = []
    for instance_id in sorted(store.list_instances()) if args.all else ids:
        try:
            done.append(rehome(store, instance_id, module=args.module, dry_run=args.dry_run))
        except DurableError as e:
            if not args.all:
                raise
            skipped.append(str(e))  # --all goes on past a corrupt or leased instance
    _report(done, args.dry_run, opts.json, args.all)
    for reason in skipped:
        print(f"durable: skipped: {reason}", file=sys.stderr)
    if skipped:
        raise CliError(f"{len(skipped)} instance(s) were not rehomed (see above)", EXIT_FAILED)


def _report(done: list[Rehomed], dry_run: bool, as_json: bool, only_changed: bool) -> None:
    """One line (or JSON object) per instance; with --all, only the instances that change."""
    shown = [r for r in done if r.renamed or not only_changed]
    if as_json:
        _print_json(
            [
                {"instance_id": r.instance_id, "renamed": r.renamed, "seq": r.seq}
                | ({"dry_run": True} if dry_run else {})
                for r in shown
            ]
        )
        return
    if not shown:
        print("no instance names __main__: nothing to rehome")
    for r in shown:
        if not r.renamed:
            print(f"{_quote(r.instance_id)}: nothing names __main__; unchanged")
            continue
        names = ", ".join(f"{old} -> {new}" for old, new in r.renamed.items())
        after = "dry run: nothing written" if dry_run else f"saved as checkpoint {r.seq}"
        print(f"{_quote(r.instance_id)}: {names} ({after})")
