"""The ``durable`` command line: look at the instances in a store and send them events.

::

    durable --store PATH list [--status STATUS]     one line per instance
    durable --store PATH show ID                    status, wait, call stack, live variables
    durable --store PATH history ID                 the audit history, oldest first
    durable --store PATH send ID EVENT [--force]    publish an event to an instance
    durable --store PATH worker --import MODULE     run the instances of MODULE's programs
    durable --store PATH rehome --module M ID...    rename saved __main__ references to M
    durable --store PATH dashboard [--port 8080]    a read-only web page (the ``web`` extra)
    durable --store PATH retry ID [--run]           a failed instance back at its last good
                                                    checkpoint (then resume it once)
    durable --store PATH edit ID --frame N --set NAME=JSON --why TEXT   change live values
    durable --store PATH fork ID NEW_ID [--from-seq N]   copy an instance to a new id
    durable --store PATH delete ID [--force] [--cascade]  delete an instance (and its children)
    durable --store PATH purge --older-than 30d [--status S] [--yes]  delete old instances

``--store`` names a `DiskStateStore` folder or a `SQLiteStateStore` file (``app.db``,
``app.sqlite``, ``app.sqlite3``, any SQLite database, or ``sqlite:///app.db``) and defaults to
the ``DURABLE_STORE`` environment variable. ``--json`` prints JSON instead of text.
``--import MODULE`` (repeatable) imports a module first, so that saved values of its types
(dataclasses, Pydantic models, enums) can be shown; a value that still cannot be decoded is
shown as its raw tagged JSON. Options may be written before or after the command.

Exit status: 0 on success, 1 when the command failed (no such store folder or instance, a
corrupt snapshot, a refused ``send``), 2 for bad arguments. Every failure is one line on
stderr, never a traceback. Tables use ``rich`` when it is installed (the ``cli`` extra) and
stdout is a terminal, plain aligned text otherwise.

Only ``worker`` and ``retry --run`` run durable code: a `durable.Worker` over the store for every
`DurableProgram` found in the globals of the ``--import`` modules, with a progress line on
stderr every few seconds (``--progress-every``) until SIGINT or SIGTERM; then the runs in
flight get ``--grace`` seconds to reach their next wait or end, and whatever is still running
is cancelled and left at its last checkpoint. The CLI prints none of the library's log
events. ``show`` decodes the saved values with one `Decoder` in the order the snapshot
defines (frames from the root, each frame's locals then its value; then result and error),
so objects shared between frames decode once.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import io
import json
import logging
import math
import os
import pathlib
import sys
import urllib.parse
from collections.abc import Sequence
from typing import Any

import structlog

from durable._model import (
    DecodedValue,
    EventWait,
    RetryWait,
    Snapshot,
    TimerWait,
    decode_values,
    read_snapshot,
)
from durable._runtime import DurableBackend
from durable.errors import DurableError
from durable.stores import DiskStateStore, PostgresStateStore, SQLiteStateStore

from ._common import (
    EXIT_FAILED,
    EXIT_USAGE,
    PROG,
    STATUSES,
    CliError,
    Command,
    _Options,
    _Parser,
    _Store,
    _where,
)
from ._dashboard import add_dashboard
from ._output import (
    _REPR,
    VALUE_WIDTH,
    _clip,
    _print_json,
    _print_table,
    _quote,
    _short_path,
    _show_id,
    _show_text,
    _when,
)
from ._purge import register as _register_purge
from ._rehome import _cmd_rehome, module_argument
from ._repair import register as _register_repairs
from ._worker import _cmd_worker

__all__ = ["main"]


# ------------------------------------------------------------------------------------------
# Entry point and arguments
# ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    _tolerant_output()
    try:
        _run(argv)
    except BrokenPipeError:  # `durable list | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    except CliError as e:
        return _fail(str(e), e.code)
    except (DurableError, OSError) as e:  # StoreError is both
        return _fail(str(e), EXIT_FAILED)
    except KeyboardInterrupt:
        return 130
    return 0


def _run(argv: Sequence[str] | None) -> None:
    args = _parser().parse_args(argv)
    opts = _options(args)
    _quiet_library()
    _import_modules(opts.imports)
    _quiet_library()  # an imported module may have configured logging or structlog
    command: Command = args.command
    store = _open_store(opts.store)
    try:
        command(store, args, opts)
    finally:
        store.close()


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Inspect durable instances and send them events.",
        epilog="Exit status: 0 on success, 1 when the command failed, 2 for bad arguments.",
    )
    _add_common(parser, sub=False)
    common = _Parser(add_help=False)
    _add_common(common, sub=True)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(name: str, run: Command, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help, description=help)
        sub.set_defaults(command=run)
        return sub

    cmd = command("list", _cmd_list, "list the instances in the store")
    cmd.add_argument("--status", choices=STATUSES, help="only instances with this status")
    cmd = command("show", _cmd_show, "show an instance: status, call stack, live variables")
    cmd.add_argument("instance_id", metavar="ID", type=_argument)
    cmd = command("history", _cmd_history, "show the audit history of an instance, oldest first")
    cmd.add_argument("instance_id", metavar="ID", type=_argument)
    cmd = command("send", _cmd_send, "publish an event to an instance")
    cmd.add_argument("instance_id", metavar="ID", type=_argument)
    cmd.add_argument("event", metavar="EVENT", type=_argument)
    cmd.add_argument(
        "--payload",
        metavar="JSON",
        type=_json_argument,
        help="the event's payload, as JSON (the wait returns it decoded: objects become dicts)",
    )
    cmd.add_argument(
        "--force",
        action="store_true",
        help="publish even if the instance has not started yet or has finished",
    )
    cmd = command("cancel", _cmd_cancel, "cancel an instance at its current or next wait")
    cmd.add_argument("instance_id", metavar="ID", type=_argument)
    cmd = command(
        "worker",
        _cmd_worker,
        "run the instances of the durable programs in the --import modules until stopped",
    )
    cmd.add_argument("--concurrency", type=_positive_int, default=100, help="runs at once")
    cmd.add_argument(
        "--poll-interval", type=_positive, default=1.0, help="seconds between store polls"
    )
    cmd.add_argument(
        "--progress-every", type=_positive, default=5.0, help="seconds between progress lines"
    )
    cmd.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="seconds the runs in flight get to reach a wait at shutdown",
    )
    cmd.add_argument(
        "--lease",
        type=_positive,
        default=30.0,
        help="seconds an instance stays claimed by this worker unless renewed; after a crash "
        "another worker continues it once the lease expires",
    )
    cmd.add_argument(
        "--backend", choices=("asyncio", "trio"), default="asyncio", help="the event loop"
    )
    cmd = command(
        "rehome",
        _cmd_rehome,
        "rename the __main__ references saved for instances to the script's importable module",
    )
    cmd.add_argument("instance_ids", metavar="ID", nargs="*", type=_argument)
    cmd.add_argument(
        "--module", required=True, type=module_argument, help="the module name, e.g. orders"
    )
    cmd.add_argument("--all", action="store_true", help="every instance that names __main__")
    cmd.add_argument(
        "--dry-run", action="store_true", help="print what would change; write nothing"
    )
    add_dashboard(command)
    _register_repairs(command, _argument)
    _register_purge(command, _argument)
    return parser


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return int(text)


def _json_argument(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON ({e}): {text!r}") from None


def _argument(text: str) -> str:
    """An id or event name from the command line, read the way stores encode ids.

    Stores write ids as UTF-8 with lone surrogates allowed (``surrogatepass``); the shell
    hands such an id over as those bytes, which Python decodes with ``surrogateescape``.
    """
    try:
        return os.fsencode(text).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return text


def _add_common(parser: argparse.ArgumentParser, *, sub: bool) -> None:
    """The options every command takes, before (``sub=False``) or after the command."""
    prefix = "sub_" if sub else ""
    parser.add_argument(
        "--store",
        dest=prefix + "store",
        metavar="PATH",
        default=argparse.SUPPRESS if sub else None,
        help="a DiskStateStore folder or an SQLite file: app.db, sqlite:///app.db "
        "(default: $DURABLE_STORE)",
    )
    parser.add_argument(
        "--json",
        dest=prefix + "json",
        action="store_true",
        default=argparse.SUPPRESS if sub else False,
        help="print JSON instead of text",
    )
    parser.add_argument(
        "--import",
        dest=prefix + "imports",
        metavar="MODULE",
        action="append",
        default=argparse.SUPPRESS if sub else None,
        help="import MODULE first, to show saved values of its types (repeatable)",
    )


def _options(args: argparse.Namespace) -> _Options:
    store = getattr(args, "sub_store", None) or args.store or os.environ.get("DURABLE_STORE")
    imports = [*(args.imports or ()), *getattr(args, "sub_imports", ())]
    return _Options(store or None, bool(args.json or getattr(args, "sub_json", False)), imports)


_SQLITE_URL = "sqlite:///"
_POSTGRES_URLS = ("postgresql://", "postgres://")
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_SQLITE_MAGIC = b"SQLite format 3\x00"


def _open_store(path: str | None) -> _Store:
    """The store ``--store`` names: ``sqlite:///FILE`` (``sqlite:////abs/FILE``), a file
    ending in .db/.sqlite/.sqlite3 or any SQLite database file opens a `SQLiteStateStore`; a
    folder a `DiskStateStore`. Neither is created: a mistyped path is an error. A
    ``postgresql://`` or ``postgres://`` URL opens a `PostgresStateStore` (``?schema=NAME``
    picks its schema, "durable" by default)."""
    if not path:
        raise CliError("no store given: pass --store PATH or set DURABLE_STORE", EXIT_USAGE)
    if path.startswith(_POSTGRES_URLS):
        return _open_postgres(path)
    url = path.startswith(_SQLITE_URL)
    where = pathlib.Path(path.removeprefix(_SQLITE_URL) if url else path).expanduser()
    if where.is_dir() and not url:
        return DiskStateStore(where)
    if url or where.suffix.lower() in _SQLITE_SUFFIXES or _is_sqlite(where):
        if not where.exists():
            raise CliError(f"store file {where} does not exist")
        if not where.is_file():
            raise CliError(f"store {where} is not a file")
        return SQLiteStateStore(where)
    if not where.exists():
        raise CliError(f"store folder {path} does not exist")
    raise CliError(f"store {path} is not a folder or an SQLite database")


def _open_postgres(url: str) -> PostgresStateStore:
    """A `PostgresStateStore` for a URL, its ``schema`` query parameter taken out (libpq
    knows no such parameter)."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    # quote, not quote_plus: libpq reads "+" as itself (options=-c%20x%3Dy must stay a space)
    rest = urllib.parse.urlencode(
        [(key, value) for key, value in query if key != "schema"], quote_via=urllib.parse.quote
    )
    dsn = urllib.parse.urlunsplit(parts._replace(query=rest))
    try:
        return PostgresStateStore(dsn, schema=schemas[-1] if schemas else "durable")
    except (ValueError, ImportError) as e:
        raise CliError(str(e), EXIT_USAGE) from None


def _is_sqlite(path: pathlib.Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def _import_modules(names: list[str]) -> None:
    if names and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: modules of the current folder
    for name in names:
        try:
            importlib.import_module(name)
        except (Exception, SystemExit) as e:
            raise CliError(f"cannot import {name!r}: {type(e).__name__}: {e}") from None


def _quiet_library() -> None:
    """Keep durable's log events off the terminal, whatever an imported module configured."""
    logging.getLogger("durable").setLevel(logging.CRITICAL + 1)
    if structlog.is_configured():
        structlog.reset_defaults()  # durable then logs through the silenced stdlib logger


def _tolerant_output() -> None:
    """Ids may hold any code point (even lone surrogates): never fail to print one."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return code


# ------------------------------------------------------------------------------------------
# Reading the store
# ------------------------------------------------------------------------------------------


def _load(store: _Store, instance_id: str) -> Snapshot | None:
    """The validated snapshot of `instance_id`, None if there is none; `CliError` if corrupt."""
    data = store.read(instance_id).data
    if data is None:
        return None
    try:
        return read_snapshot(instance_id, data)
    except DurableError as e:
        raise CliError(str(e)) from None


def _require(store: _Store, instance_id: str) -> Snapshot:
    snapshot = _load(store, instance_id)
    if snapshot is None:
        raise CliError(f"no instance {_quote(instance_id)} in store {_where(store)}")
    return snapshot


def _inbox(store: _Store, snapshot: Snapshot) -> list[str]:
    """Names of the events waiting in the instance's inbox, oldest first."""
    inbox = store.read(snapshot.instance_id).inbox
    return [e.name for e in inbox if e.id not in snapshot.consumed_events]


def _waiting(snapshot: Snapshot) -> str | None:
    """What a paused instance waits for, in a few words; None if it waits for nothing."""
    wait = snapshot.wait if snapshot.status == "paused" else None
    if wait is None:
        return None
    if isinstance(wait, EventWait):
        deadline = f" until {_when(wait.deadline)}" if wait.deadline else ""
        return f"event {_quote(wait.name)}{deadline}"
    if isinstance(wait, TimerWait):
        return f"timer until {_when(wait.wake_at)}"
    if isinstance(wait, RetryWait):
        return f"retry {wait.attempt + 1} of {wait.step} at {_when(wait.next_attempt_at)}"
    ids = ", ".join(_quote(i) for i in wait.ids[:3]) + (", ..." if len(wait.ids) > 3 else "")
    return f"{wait.mode} of {len(wait.ids)} children ({ids})"


# ------------------------------------------------------------------------------------------
# list
# ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Entry:
    instance_id: str
    snapshot: Snapshot | None
    problem: str | None = None

    @property
    def status(self) -> str:
        return "corrupt" if self.snapshot is None else self.snapshot.status


def _cmd_list(store: _Store, args: argparse.Namespace, opts: _Options) -> None:
    entries = [_entry(store, instance_id) for instance_id in store.list_instances()]
    wanted = [e for e in entries if e is not None and args.status in (None, e.status)]
    for entry in wanted:
        if entry.problem is not None and not opts.json:
            print(f"{PROG}: warning: {entry.problem}", file=sys.stderr)
    if opts.json:
        _print_json([_entry_json(e) for e in wanted])
    elif not wanted:
        print("no instances" + (f" with status {args.status}" if args.status else ""))
    else:
        headers = ("ID", "STATUS", "PROGRAM", "WAITING FOR", "SEQ", "UPDATED")
        _print_table(headers, [_entry_row(e) for e in wanted], status_column=1)


def _entry(store: _Store, instance_id: str) -> _Entry | None:
    try:
        snapshot = _load(store, instance_id)
    except (CliError, DurableError) as e:
        return _Entry(instance_id, None, str(e))
    return None if snapshot is None else _Entry(instance_id, snapshot)  # None: just deleted


def _entry_json(entry: _Entry) -> dict[str, Any]:
    snap = entry.snapshot
    if snap is None:
        return {"instance_id": entry.instance_id, "status": "corrupt", "error": entry.problem}
    data = snap.model_dump(mode="json")
    keep = ("instance_id", "status", "wait", "seq", "created_at", "updated_at")
    program = {"program": snap.program.qualname, "version": snap.program.version}
    return {**{key: data[key] for key in keep}, **program}


def _entry_row(entry: _Entry) -> list[str]:
    snap = entry.snapshot
    row = [_clip(_show_id(entry.instance_id), 40), entry.status]
    if snap is None:
        return [*row, "-", "-", "-", "-"]
    program = snap.program.qualname + (f" ({snap.program.version})" if snap.program.version else "")
    waiting = _waiting(snap)
    waiting = _clip(_show_text(waiting), 40) if waiting is not None else "-"
    return [*row, _clip(program, 50), waiting, str(snap.seq), _when(snap.updated_at)]


# ------------------------------------------------------------------------------------------
# show
# ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Frame:
    locals: list[tuple[str, str]]
    value: str


@dataclasses.dataclass
class _Values:
    frames: list[_Frame]
    result: str
    error: str
    failures: list[str]


def _decode_values(snapshot: Snapshot) -> _Values:
    """Every saved value as text, decoded in the order the snapshot format defines."""
    decoded = decode_values(snapshot)
    frames = [
        _Frame([(name, _text(value)) for name, value in frame.locals], _text(frame.value))
        for frame in decoded.frames
    ]
    return _Values(frames, _text(decoded.result), _text(decoded.error), decoded.failures)


def _text(value: DecodedValue) -> str:
    if value.problem is not None:
        raw = json.dumps(value.raw, ensure_ascii=False, separators=(",", ":"))
        return _clip("(raw) " + raw, VALUE_WIDTH)
    return _clip(_REPR.repr(value.value), VALUE_WIDTH)


def _cmd_show(store: _Store, args: argparse.Namespace, opts: _Options) -> None:
    snapshot = _require(store, args.instance_id)
    inbox = _inbox(store, snapshot)
    if opts.json:
        _print_json({**snapshot.model_dump(mode="json"), "inbox": inbox})
        return
    values = _decode_values(snapshot)
    lines = [*_summary_lines(snapshot, inbox, values), *_stack_lines(snapshot, values)]
    print("\n".join([*lines, *_failure_note(values.failures)]))


def _summary_lines(snapshot: Snapshot, inbox: list[str], values: _Values) -> list[str]:
    program = snapshot.program
    fields = [
        ("instance", _show_id(snapshot.instance_id)),
        ("status", _status_text(snapshot)),
        ("program", program.qualname + (f", version {program.version}" if program.version else "")),
        ("seq", str(snapshot.seq)),
        ("created", _when(snapshot.created_at)),
        ("updated", _when(snapshot.updated_at)),
    ]
    if snapshot.parent is not None:
        fields.append(("parent", _show_id(snapshot.parent)))
    if snapshot.status in ("running", "paused"):
        fields.append(("inbox", ", ".join(map(_show_text, inbox)) or "(empty)"))
    if snapshot.status == "completed":
        fields.append(("result", values.result))
    if snapshot.status in ("failed", "cancelled"):
        fields.append(("error", values.error))
    width = max(len(key) for key, _ in fields)
    return [f"{key.ljust(width)}  {value}" for key, value in fields]


def _status_text(snapshot: Snapshot) -> str:
    waiting = _waiting(snapshot)
    return f"paused, waiting for {waiting}" if waiting is not None else snapshot.status


def _stack_lines(snapshot: Snapshot, values: _Values) -> list[str]:
    frames = snapshot.call_stack.frames
    if not frames:
        return []
    lines = ["", "call stack, root first:"]
    for n, (frame, shown) in enumerate(zip(frames, values.frames, strict=True)):
        where = f"{_short_path(frame.filename)}:{frame.lineno}"
        state = (
            f"resume point {frame.resume_point}"
            if frame.outcome == "running"
            else f"{frame.outcome} {shown.value}"
        )
        lines.append(f"  #{n} {frame.function}  {where}  {state}")
        lines.extend(f"       {name} = {text}" for name, text in shown.locals)
    return lines


def _failure_note(failures: list[str]) -> list[str]:
    if not failures:
        return []
    return [
        "",
        f"note: {len(failures)} value(s) shown as raw JSON (first: {failures[0]}). Pass "
        "--import MODULE for the module that defines their type (a script's types are saved "
        "under its importable name; those saved as __main__:... need 'durable rehome').",
    ]


# ------------------------------------------------------------------------------------------
# history
# ------------------------------------------------------------------------------------------

_HISTORY_COLUMNS = ("at", "seq", "kind", "function", "point")


def _cmd_history(store: _Store, args: argparse.Namespace, opts: _Options) -> None:
    instance_id: str = args.instance_id
    try:
        entries = DurableBackend(store).read_history(instance_id)
    except ValueError as e:
        shown = _quote(instance_id)
        raise CliError(f"the history of instance {shown} is corrupt ({e})") from None
    if not entries and store.load(instance_id) is None:
        raise CliError(f"no instance {_quote(instance_id)} in store {_where(store)}")
    if opts.json:
        _print_json(entries)
    elif not entries:
        print(f"no history for instance {_quote(instance_id)}")
    else:
        headers = ("AT", "SEQ", "KIND", "FUNCTION", "POINT", "DETAILS")
        _print_table(headers, [_history_row(entry) for entry in entries])


def _history_row(entry: dict[str, Any]) -> list[str]:
    at = entry.get("at")
    cells = [_when(at, precise=True) if isinstance(at, str) else _cell(at)]
    cells += [_cell(entry.get(key)) for key in _HISTORY_COLUMNS[1:]]
    details = [f"{k}={_cell(v)}" for k, v in entry.items() if k not in _HISTORY_COLUMNS]
    return [*cells, _clip(" ".join(details), 100) or "-"]


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return _show_text(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# ------------------------------------------------------------------------------------------
# send
# ------------------------------------------------------------------------------------------


def _cmd_send(store: _Store, args: argparse.Namespace, opts: _Options) -> None:
    instance_id: str = args.instance_id
    event: str = args.event
    snapshot = _peek(store, instance_id) if args.force else _receiver(store, instance_id)
    try:
        DurableBackend(store).publish_event(instance_id, event, args.payload)
    except ValueError as e:  # a reserved name
        raise CliError(str(e)) from None
    if opts.json:
        status = None if snapshot is None else snapshot.status
        _print_json({"instance_id": instance_id, "event": event, "status": status})
    else:
        note = _delivery(snapshot, event)
        print(f"published {_quote(event)} to {_quote(instance_id)}: {note}")


def _cmd_cancel(store: _Store, args: argparse.Namespace, opts: _Options) -> None:
    instance_id: str = args.instance_id
    snapshot = _receiver(store, instance_id)
    DurableBackend(store).cancel(instance_id)
    if opts.json:
        _print_json({"instance_id": instance_id, "cancelled": True, "status": snapshot.status})
    else:
        print(
            f"cancellation recorded for {_quote(instance_id)}: it is raised at the instance's "
            "current or next wait when the instance is next called"
        )


def _receiver(store: _Store, instance_id: str) -> Snapshot:
    """The snapshot of an instance that can still consume an event; `CliError` otherwise."""
    snapshot = _load(store, instance_id)
    shown = _quote(instance_id)
    if snapshot is None:
        raise CliError(
            f"no instance {shown} in store {_where(store)} (to publish to an instance that has "
            "not started yet, add --force)"
        )
    if snapshot.status in ("completed", "failed", "cancelled"):
        raise CliError(
            f"instance {shown} has {snapshot.status}, so no pause will take the event "
            "(add --force to publish it anyway)"
        )
    return snapshot


def _peek(store: _Store, instance_id: str) -> Snapshot | None:
    """The snapshot if it can be read, else None: ``--force`` publishes regardless."""
    try:
        return _load(store, instance_id)
    except (CliError, DurableError):
        return None


def _delivery(snapshot: Snapshot | None, event: str) -> str:
    if snapshot is None:
        return "it is kept until the instance reaches a pause waiting for it"
    if snapshot.status in ("completed", "failed", "cancelled"):
        return f"the instance has {snapshot.status}; the event will not be consumed"
    wait = snapshot.wait if snapshot.status == "paused" else None
    if isinstance(wait, EventWait) and wait.name == event:
        return "the instance is waiting for it and continues when it is next called"
    if wait is not None:
        waiting = _waiting(snapshot)
        return f"the instance waits for {waiting} now; the event is kept for a later pause"
    return f"the instance is {snapshot.status}; the event is kept until a pause waits for it"
