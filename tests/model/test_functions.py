"""The codec's nested-function tags (`fn`, `cell`, `cells`) on their own, without a runtime.

A site is registered the way the runtime registers a durable program's nested functions; the
end-to-end behaviour (shared cells across pauses, tampered snapshots) is tested in
tests/transform/test_closures.py and the differential corpus.
"""

from __future__ import annotations

import types
from typing import Any

import pytest

from durable._cells import FrameCells
from durable._model._codec import (
    DecodeError,
    Decoder,
    Encoder,
    UnencodableValue,
    _encode,
    _functions,
    register_functions,
)

SOURCE = """
def outer():
    k = 1
    add = lambda v, *, w=0: v + k + w
    def bump():
        nonlocal k
        k += 1
    return add, bump
"""


def _program() -> tuple[Any, Any, dict[str, Any]]:
    namespace: dict[str, Any] = {"__name__": "fake_module"}
    exec(compile(SOURCE, "<fake>", "exec"), namespace)
    add, bump = namespace["outer"]()
    register_functions("fake_module:outer", "fp-1", namespace, [add.__code__, bump.__code__])
    return add, bump, namespace


def test_step_kinds_agree() -> None:
    assert _functions._RAW == _encode._RAW


def test_functions_sharing_a_cell_round_trip_sharing_it() -> None:
    add, bump, namespace = _program()
    add.__kwdefaults__ = {"w": 100}
    enc, dec = Encoder(), Decoder()
    data = [enc.encode(add, "add"), enc.encode(bump, "bump")]
    add2, bump2 = (dec.decode(d) for d in data)
    assert isinstance(add2, types.FunctionType) and isinstance(bump2, types.FunctionType)
    assert add2.__code__ is add.__code__ and add2.__globals__ is namespace
    assert add2.__closure__ is not None and bump2.__closure__ is not None
    assert add2.__closure__[0] is bump2.__closure__[0]
    bump2()
    assert add2(1) == 1 + 2 + 100
    assert add(1) == 1 + 1 + 100  # the original is untouched


def test_frame_cells_name_only_cells_saved_before_them() -> None:
    add, _, _ = _program()
    assert add.__closure__ is not None
    shared, alone = add.__closure__[0], types.CellType(object())
    enc, dec = Encoder(), Decoder()
    first = enc.encode(add, "add")
    cells = enc.encode(FrameCells({"k": shared, "lock": alone}), "_dur_cells")
    assert cells == {"$t": "cells", "v": ["k", {"$ref": first["c"][0]["$id"]}]}  # type: ignore[index, call-overload]
    add2 = dec.decode(first)
    frame_cells = dec.decode(cells)
    assert isinstance(frame_cells, FrameCells)
    assert frame_cells.cells["k"] is add2.__closure__[0]  # type: ignore[attr-defined]


def test_functions_not_registered_are_refused() -> None:
    def module_level_like(v: int) -> int:
        return v

    with pytest.raises(UnencodableValue, match="functions cannot be saved unless"):
        Encoder().encode(module_level_like, "f")


def test_a_changed_program_is_refused_on_load() -> None:
    add, _, namespace = _program()
    data = Encoder().encode(add, "add")
    register_functions("fake_module:outer", "fp-2", namespace, [add.__code__, None])
    with pytest.raises(DecodeError, match="another version"):
        Decoder().decode(data)
