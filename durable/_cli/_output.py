"""How the CLI prints: JSON, tables (plain or rich), and values cut to a readable width."""

from __future__ import annotations

import importlib
import json
import pathlib
import re
import reprlib
import sys
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime

_SURROGATE = re.compile("[\ud800-\udfff]")
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = 80
_REPR.maxother = 120
_REPR.maxlong = 40
for _attr in ("maxdict", "maxlist", "maxtuple", "maxset", "maxfrozenset", "maxdeque"):
    setattr(_REPR, _attr, 8)
_QUOTE = reprlib.Repr()
_QUOTE.maxstring = 80
VALUE_WIDTH = 160  # a shown value is cut to this many characters
_MIN_LAST = 30  # with rich, the last column of a table may wrap down to this width
STATUS_STYLES = {"paused": "yellow", "completed": "green", "failed": "red", "corrupt": "red"}


# ------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------


def _print_json(data: object) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2)
    # A lone surrogate (in an id) cannot be written as UTF-8: write it as its JSON escape.
    print(_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def _print_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], status_column: int | None = None
) -> None:
    if not _print_rich_table(headers, rows, status_column):
        print(_plain_table(headers, rows))


def _plain_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = _widths(headers, rows)
    lines = []
    for row in [headers, *rows]:
        cells = [
            cell + " " * (width - _width(cell)) for cell, width in zip(row, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _print_rich_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], status_column: int | None
) -> bool:
    """Print with rich if it is installed, stdout is a terminal and the table fits in it.

    Every column keeps its full width except the last, which wraps down to `_MIN_LAST`
    columns; a table wider than that is left to the plain renderer, which never cuts a cell.
    """
    if not sys.stdout.isatty():
        return False
    try:
        console = importlib.import_module("rich.console").Console()
        rich_table = importlib.import_module("rich.table")
        text = importlib.import_module("rich.text")
    except ImportError:
        return False
    widths = _widths(headers, rows)
    last = min(widths[-1], _MIN_LAST)
    if sum(widths[:-1]) + last + 2 * (len(widths) - 1) > console.width:
        return False
    table = rich_table.Table(box=None, header_style="bold", pad_edge=False)
    for header, width in zip(headers[:-1], widths, strict=False):
        table.add_column(header, no_wrap=True, min_width=width)
    table.add_column(headers[-1], overflow="fold", min_width=last)
    for row in rows:
        cells = [text.Text(cell) for cell in row]  # Text: markup in an id is not interpreted
        if status_column is not None:
            cells[status_column].stylize(STATUS_STYLES.get(row[status_column], ""))
        table.add_row(*cells)
    console.print(table)
    return True


def _widths(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    return [max(map(_width, column)) for column in zip(headers, *rows, strict=True)]


def _width(text: str) -> int:
    """Terminal columns taken by `text`: wide East Asian characters take two."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show_id(text: str) -> str:
    """An id or name as typed on a command line when plain, quoted (repr) otherwise."""
    plain = text and text.isprintable() and text == text.strip() and "'" not in text
    return text if plain else repr(text)


def _quote(text: str) -> str:
    """An id or name quoted for a sentence, cut short when very long."""
    return _QUOTE.repr(text)


def _show_text(text: str) -> str:
    """Free text on one line: control characters and lone surrogates escaped."""
    return text if text.isprintable() else repr(text)[1:-1]


def _short_path(filename: str) -> str:
    """`filename` relative to the current folder when it lies inside it."""
    try:
        return str(pathlib.Path(filename).relative_to(pathlib.Path.cwd()))
    except ValueError:
        return filename


def _when(moment: datetime | str, *, precise: bool = False) -> str:
    """A moment in UTC, ISO 8601, to the second (to the millisecond if `precise`)."""
    if isinstance(moment, str):
        try:
            return _when(datetime.fromisoformat(moment), precise=precise)
        except ValueError:
            return _show_text(moment)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    text = moment.isoformat(timespec="milliseconds" if precise else "seconds")
    return text.replace("+00:00", "Z")
