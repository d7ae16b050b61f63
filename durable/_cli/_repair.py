"""`durable retry`, `durable edit`, `durable fork`: an operator's repairs of saved instances.

Each calls the `DurableBackend` method of the same name (one compare-and-set commit, or a
refusal that writes nothing) and prints what it wrote. Only ``retry --run`` runs durable
code: the instance's program, found among the ``--import`` modules, resumes it once.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import anyio

from durable._runtime import DurableBackend, DurableProgram, Repair
from durable._runtime._registry import registry
from durable.errors import Suspended

from ._common import EXIT_USAGE, CliError, Command, _Options, _Store
from ._output import _print_json, _quote

__all__ = ["register"]


def register(
    command: Callable[[str, Command, str], argparse.ArgumentParser],
    argument: Callable[[str], str],
) -> None:
    """Add the repair commands to the parser (``command`` makes one sub-command)."""
    cmd = command("retry", _cmd_retry, "put a failed instance back at its last good checkpoint")
    cmd.add_argument("instance_id", metavar="ID", type=argument)
    cmd.add_argument("--by", help="the operator (default: the OS user)")
    cmd.add_argument("--why", help="the reason, kept in the history")
    cmd.add_argument(
        "--run", action="store_true", help="then resume it once (its module: --import)"
    )
    cmd = command("edit", _cmd_edit, "change live values of a paused or failed instance")
    cmd.add_argument("instance_id", metavar="ID", type=argument)
    cmd.add_argument("--frame", type=int, required=True, help="the frame, 0 for the root")
    cmd.add_argument(
        "--set",
        dest="values",
        metavar="NAME=JSON",
        action="append",
        type=_assignment,
        default=[],
        help="a new value for a live variable (repeatable)",
    )
    cmd.add_argument("--point", help="move the frame to this named point (needs --import)")
    cmd.add_argument("--why", required=True, help="the reason, kept in the history")
    cmd.add_argument("--by", help="the operator (default: the OS user)")
    cmd.add_argument("--seq", type=int, help="refuse unless the instance is at this checkpoint")
    cmd = command("fork", _cmd_fork, "copy an instance to a new one that runs on its own")
    cmd.add_argument("instance_id", metavar="ID", type=argument)
    cmd.add_argument("new_id", metavar="NEW_ID", type=argument)
    cmd.add_argument("--from-seq", type=int, help="a retained earlier checkpoint to copy")


def _assignment(text: str) -> tuple[str, Any]:
    name, equals, raw = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=JSON, got {text!r}")
    try:
        return name, json.loads(raw)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON for {name} ({e}): {raw!r}") from None


def _cmd_retry(store: _Store, args: argparse.Namespace, opts: _Options) -> None:
    backend = DurableBackend(store)
    program = _program(store, args.instance_id) if args.run else None
    done = anyio.run(lambda: backend.retry(args.instance_id, by=args.by, reason=args.why))
    outcome = None if program is None else _resume(backend, program, args.instance_id)
    if opts.json:
        _print_json({**_summary(done), **({"outcome": outcome} if outcome else {})})
        return
    failed = done.entry["failed_seq"]
    source = (
        f"the call stack edited at checkpoint {failed}"
        if done.from_seq == failed
        else f"checkpoint {done.from_seq} (it failed at checkpoint {failed})"
    )
    print(
        f"retried {_quote(done.instance_id)} from {source}: saved as checkpoint {done.seq}, "
        f"{done.status}"
    )
    print(outcome or "it continues from there when it is next resumed (a worker, or --run)")


def _program(store: _Store, instance_id: str) -> DurableProgram[..., Any]:
    header = store.read_header(instance_id)
    name = header.program if header is not None else "?"
    program = registry.get(name)
    if not isinstance(program, DurableProgram):
        raise CliError(
            f"--run needs the code of {name}: name its module with --import MODULE", EXIT_USAGE
        )
    return program


def _resume(backend: DurableBackend, program: DurableProgram[..., Any], instance_id: str) -> str:
    async def run() -> str:
        try:
            result = await program.resume(orchestration_backend=backend, instance_id=instance_id)
        except Suspended as e:
            return f"resumed: it waits again ({e})"
        except Exception as e:
            return f"resumed: it failed again: {type(e).__name__}: {e}"
        return f"resumed: it completed with {result!r}"

    return anyio.run(run)


def _cmd_edit(store: _Store, args: argparse.Namespace, opts: _Options) -> None:
    backend = DurableBackend(store)
    if not args.values and args.point is None:
        raise CliError("nothing to change: give --set NAME=JSON or --point NAME", EXIT_USAGE)

    async def edit() -> Repair:
        return await backend.edit(
            args.instance_id,
            frame=args.frame,
            set=dict(args.values),
            point=args.point,
            why=args.why,
            by=args.by,
            expected_seq=args.seq,
        )

    done = anyio.run(edit)
    if opts.json:
        _print_json(_summary(done))
        return
    entry = done.entry
    print(
        f"edited {_quote(done.instance_id)} frame {entry['frame']} ({entry['function']}) by "
        f"{entry['by']}: saved as checkpoint {done.seq}, {done.status}"
    )
    for change in entry["changes"]:
        old, new = (json.dumps(change[k], ensure_ascii=False) for k in ("old", "new"))
        print(f"  {change['name']}: {old} -> {new}")
    if "to_point" in entry:
        print(f"  resume point: {entry['from_point']} -> {entry['to_point']}")
    if done.status == "failed":
        print("it stays failed until `durable retry`, which resumes from these values")


def _cmd_fork(store: _Store, args: argparse.Namespace, opts: _Options) -> None:
    backend = DurableBackend(store)
    done = anyio.run(lambda: backend.fork(args.instance_id, args.new_id, args.from_seq))
    if opts.json:
        _print_json(_summary(done))
        return
    print(
        f"forked {_quote(args.instance_id)} at checkpoint {done.from_seq} to "
        f"{_quote(done.instance_id)} ({done.status}); each continues on its own"
    )


def _summary(done: Repair) -> dict[str, Any]:
    return {
        "instance_id": done.instance_id,
        "seq": done.seq,
        "from_seq": done.from_seq,
        "status": done.status,
        "entry": done.entry,
    }
