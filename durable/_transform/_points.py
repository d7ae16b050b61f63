"""Point metadata: what the runtime learns about each resume point of a function.

A point is numbered by its order in the normalised body (1, 2, ...), named stably
(`_point_names`) and told which locals to save: those live after it, plus the temps that
re-entering it needs (`_forced_live`).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ._liveness import Liveness
from ._normalise import _Normaliser

__all__ = ["PointInfo", "TransformResult", "_forced_live", "_point_infos", "_point_names"]


@dataclass
class PointInfo:
    """One resume point of a transformed function."""

    id: int
    kind: Literal["pause", "call"]
    lineno: int
    name: str  # stable across edits elsewhere in the function (see `_point_names`)
    peers: int  # how many points share its unnumbered name (1 for a ``point=`` name)
    live: tuple[str, ...] = ()
    maybe: tuple[str, ...] = ()


@dataclass
class TransformResult:
    module: ast.Module  # defines FACTORY(*HELPERS) -> the generated async function
    params: tuple[str, ...]
    start_live: tuple[str, ...]  # parameters used at all: the others are never saved
    points: list[PointInfo]
    hidden: dict[str, str] = field(default_factory=dict)  # temp name -> what it holds
    lowered_comprehensions: bool = False  # any awaiting comprehension became loops


def _point_infos(
    norm: _Normaliser, ids: dict[int, int], live: Liveness, body: list[ast.stmt]
) -> list[PointInfo]:
    """The points in `ids` (id(point stmt) -> point id), in point order."""
    forced = _forced_live(norm, body)
    names = _point_names(norm, [k for k, _ in sorted(ids.items(), key=lambda kv: kv[1])])
    infos = []
    for key, pid in sorted(ids.items(), key=lambda kv: kv[1]):
        kind, stmt = norm.points[key]
        must = tuple(sorted(set(live.must[key]) | forced.get(key, set())))
        maybe = tuple(n for n in live.maybe[key] if n not in must)
        name, peers = names[key]
        infos.append(PointInfo(pid, kind, stmt.lineno, name, peers, must, maybe))
    return infos


def _point_names(norm: _Normaliser, order: list[int]) -> dict[int, tuple[str, int]]:
    """Stable names, with how many points share each unnumbered one.

    The user's ``point=`` name, else what the point does (``pause:'approve'``,
    ``call:charge``), numbered ``#2``, ``#3`` when repeated. Such a name survives code added
    before, after or around the point; another point doing the same thing added earlier
    would shift the numbers, which the peer count exposes (the upgrade is then refused).
    """
    names: dict[int, tuple[str, int]] = {}
    seen: dict[str, int] = {}
    totals: dict[str, int] = {}
    for key in order:
        if key not in norm.explicit:
            totals[norm.described[key]] = totals.get(norm.described[key], 0) + 1
    taken = set(norm.explicit.values())
    for key in order:
        if key in norm.explicit:
            names[key] = (norm.explicit[key], 1)
            continue
        base = norm.described[key]
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base}#{seen[base]}"
        while name in taken:
            name += "'"
        names[key] = (name, totals[base])
    plain = [n for n, _ in names.values()]
    if len(set(plain)) != len(plain):
        dup = next(n for n in plain if plain.count(n) > 1)
        stmt = norm.points[next(k for k, (n, _) in names.items() if n == dup)][1]
        raise norm.error(stmt, f"two pauses are named {dup!r}; point names must be unique")
    return names


def _forced_live(norm: _Normaliser, body: list[ast.stmt]) -> dict[int, set[str]]:
    """Temps that re-entry itself needs, saved at every point inside their statement.

    Liveness alone is not enough: resuming a point re-enters every enclosing lowered ``for``
    (through its iterator) and every enclosing handler (by raising its exception again), even
    when the code after the point would leave them (``break``, ``return``).
    """
    forced: dict[int, set[str]] = {}

    def visit(stmts: Sequence[ast.stmt], held: frozenset[str]) -> None:
        for s in stmts:
            if id(s) in norm.points:
                forced[id(s)] = set(held)
            it = norm.lowered.get(id(s))
            visit(getattr(s, "body", []), held | {it} if it else held)
            visit(getattr(s, "orelse", []), held)
            cr = norm.pending_finally.get(id(s))  # its `try` raises the pending exception
            visit(getattr(s, "finalbody", []), held | {cr} if cr else held)
            for h in getattr(s, "handlers", []):
                ex = norm.handler_ex.get(id(h))
                visit(h.body, held | {ex} if ex else held)

    visit(body, frozenset())
    return forced
