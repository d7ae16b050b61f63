"""Nested functions and closure cells: saved by reference to where the program defines them.

A ``lambda`` or nested ``def`` made by a durable function is part of that program's own
(fingerprinted) code. It is saved as a reference to its definition site plus the values its
definition captured; its code object comes back from the compiled program, never from the
store, so loading still runs nothing:

==============  ==========================================================================
``fn``          ``{"p": "module:qualname" of the durable function, "fp": its fingerprint,
                "i": site index, "d"?: [defaults], "kd"?: [name, value, ...] (keyword-only
                defaults), "c"?: [cells, in the order of the code's free variables],
                "n"?: __name__, "q"?: __qualname__ (when changed)}``; post-order, ``$id``
``cell``        ``{"v"?: contents}`` (no ``v``: an empty cell); pre-order, ``$id``, so a
                function that refers to itself through its closure is rebuilt
``cells``       ``{"v": [name, {"$ref": n}, ...]}``: a frame's `FrameCells`, weakly: only
                the cells already saved before it (by a live function) are named
==============  ==========================================================================

The runtime registers each durable program's site codes (`register_functions`): the codec
never imports the runtime or the transformer. A function whose code is not registered (a
module-level function, a builtin, a method) is refused: a snapshot that could name any
function would let stored data choose what the program calls. Loading checks the program is
registered in this process with the saved fingerprint, the index is in range and names a
site, the closure has the code's number of cells and the defaults fit its parameters;
anything else is a `DecodeError`.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, Final

from ..._cells import FrameCells
from ._types import JSON, DecodeError, _Node, _plain_str, _Refuse, _short_repr

if TYPE_CHECKING:
    from ._decode import Decoder

__all__ = ["register_functions"]

# The step kind `_encode` renders as literal text (its `_RAW`); tests check they agree.
_RAW: Final = 5


@dataclasses.dataclass(frozen=True, slots=True)
class _Program:
    fingerprint: str
    globals: dict[str, Any]
    codes: tuple[types.CodeType | None, ...]


# program name -> its sites now; id(code) -> (code, program name, fingerprint, index) for
# every code ever registered (pinned, so that no id is reused).
_PROGRAMS: dict[str, _Program] = {}
_SITES: dict[int, tuple[types.CodeType, str, str, int]] = {}


def register_functions(
    program: str,
    fingerprint: str,
    globals_: dict[str, Any],
    codes: Sequence[types.CodeType | None],
) -> None:
    """Let the nested functions of durable program `program` be saved and loaded.

    `codes` holds the code object of each definition site by index; `globals_` the module
    namespace the program's functions run in.
    """
    _PROGRAMS[program] = _Program(fingerprint, globals_, tuple(codes))
    for i, code in enumerate(codes):
        if code is not None:
            _SITES[id(code)] = (code, program, fingerprint, i)


_FOREIGN: Final = (
    "functions cannot be saved unless a durable function defines them (a lambda or nested "
    "def there is saved by reference to its definition); {name} is defined elsewhere (a "
    "module-level function, a method, a builtin): refer to it by name after the pause instead"
)


# -- encoding: generators yielding (child, step kind, step data), as in `_encode` --------------


def _e_function(v: types.FunctionType) -> Generator[tuple[object, int, object], JSON, _Node]:
    code = v.__code__
    site = _SITES.get(id(code))
    if site is None or site[0] is not code:
        raise _Refuse(_FOREIGN.format(name=v.__qualname__))
    _, program, fingerprint, index = site
    registered = _PROGRAMS.get(program)
    if registered is None or v.__globals__ is not registered.globals:
        raise _Refuse(_FOREIGN.format(name=v.__qualname__))
    if getattr(v, "__dict__", None):
        raise _Refuse(
            f"function {v.__qualname__} has attributes ({', '.join(map(str, v.__dict__))}), "
            "set by a decorator such as functools.wraps or by assignment; they cannot be saved"
        )
    node: _Node = {"$t": "fn", "p": program, "fp": fingerprint, "i": index}
    if v.__defaults__:
        defaults: list[JSON] = []
        for i, x in enumerate(v.__defaults__):
            defaults.append((yield (x, _RAW, f".__defaults__[{i}]")))
        node["d"] = defaults
    if v.__kwdefaults__:
        flat: list[JSON] = []
        for name, x in v.__kwdefaults__.items():
            flat += [name, (yield (x, _RAW, f".__kwdefaults__[{name!r}]"))]
        node["kd"] = flat
    if v.__closure__:
        cells: list[JSON] = []
        for name, cell in zip(code.co_freevars, v.__closure__, strict=True):
            cells.append((yield (cell, _RAW, f".<closure {name}>")))
        node["c"] = cells
    if v.__name__ != code.co_name:
        node["n"] = _text(v.__name__)
    if v.__qualname__ != code.co_qualname:
        node["q"] = _text(v.__qualname__)
    return node


def _text(s: str) -> str:
    if not _plain_str(s):
        raise _Refuse("its name cannot be saved")
    return s


def _e_cell(v: types.CellType) -> Generator[tuple[object, int, object], JSON, _Node]:
    node: _Node = {"$t": "cell"}
    try:
        contents = v.cell_contents
    except ValueError:  # an empty cell: the variable is unbound
        return node
    node["v"] = yield (contents, _RAW, ".<cell contents>")
    return node


def _e_frame_cells(ids: dict[int, int], v: FrameCells) -> JSON:
    flat: list[JSON] = []
    for name, cell in v.cells.items():
        n = ids.get(id(cell))
        if n is not None:
            flat += [name, {"$ref": n}]
    return {"$t": "cells", "v": flat}


# -- decoding --------------------------------------------------------------------------------


def _d_function(dec: Decoder, node: _Node) -> Generator[JSON, object, object]:
    program, fingerprint, index = node.get("p"), node.get("fp"), node.get("i")
    if type(program) is not str or type(fingerprint) is not str or type(index) is not int:
        raise DecodeError("'fn' node needs 'p' and 'fp' strings and an integer 'i'")
    registered = _PROGRAMS.get(program)
    if registered is None:
        raise DecodeError(
            f"a saved function refers to {_short_repr(program)}, which is not a durable "
            "function in this process; import the module that defines it before resuming"
        )
    if registered.fingerprint != fingerprint:
        raise DecodeError(
            f"a saved function was defined by another version of {program} (fingerprint "
            f"{_short_repr(fingerprint)}, now {registered.fingerprint}); its code changed"
        )
    code = registered.codes[index] if 0 <= index < len(registered.codes) else None
    if code is None:
        raise DecodeError(f"{program} defines no function at site {index}")
    defaults = yield from _list(node, "d")
    flat = yield from _list(node, "kd")
    cells = yield from _list(node, "c")
    if "$same" in node:
        return dec._same(node, "fn")
    closure = tuple(c for c in cells if type(c) is types.CellType)
    if len(closure) != len(cells) or len(closure) != len(code.co_freevars):
        raise DecodeError(f"'fn' node: {code.co_qualname} needs {len(code.co_freevars)} cells")
    if len(defaults) > code.co_argcount:
        raise DecodeError(f"'fn' node: {code.co_qualname} has fewer parameters than defaults")
    kwonly = code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
    if len(flat) % 2 or not all(name in kwonly for name in flat[::2]):
        raise DecodeError(f"'fn' node: bad keyword-only defaults for {code.co_qualname}")
    fn = types.FunctionType(
        code, registered.globals, code.co_name, tuple(defaults) or None, closure or None
    )
    if flat:
        fn.__kwdefaults__ = {str(k): x for k, x in zip(flat[::2], flat[1::2], strict=True)}
    for key, attr in (("n", "__name__"), ("q", "__qualname__")):
        if key in node:
            name = node[key]
            if type(name) is not str:
                raise DecodeError(f"'fn' node: {key!r} must be a string")
            setattr(fn, attr, name)
    dec._define(node, fn, "fn")
    return fn


def _list(node: _Node, key: str) -> Generator[JSON, object, list[object]]:
    items = node.get(key, [])
    if type(items) is not list:
        raise DecodeError(f"'fn' node: {key!r} must be a list")
    out: list[object] = []
    for x in items:
        out.append((yield x))
    return out


def _d_cell(dec: Decoder, node: _Node) -> Generator[JSON, object, object]:
    cell = types.CellType()
    dec._define(node, cell, "cell")
    if "v" in node:
        cell.cell_contents = yield node["v"]
    return cell


def _d_frame_cells(dec: Decoder, node: _Node) -> FrameCells:
    flat = node.get("v")
    if type(flat) is not list or len(flat) % 2:
        raise DecodeError("'cells' node: 'v' must hold name/cell pairs")
    cells: dict[str, types.CellType] = {}
    for name, ref in zip(flat[::2], flat[1::2], strict=True):
        if type(name) is not str or not name.isidentifier() or type(ref) is not dict:
            raise DecodeError("'cells' node: 'v' must hold name/cell pairs")
        if "$ref" not in ref:
            raise DecodeError("'cells' node: 'v' must hold name/cell pairs")
        cell = dec._ref(ref)
        if type(cell) is not types.CellType:
            raise DecodeError(f"'cells' node: {name!r} does not refer to a cell")
        cells[name] = cell
    return FrameCells(cells)
