"""The closure cells of a running durable frame: what generated code saves to keep them shared.

A durable function whose nested functions (``lambda``, ``def``) use its variables keeps those
variables in cells that the runtime creates for each call (the compiled function takes them
as its closure), not in cells of its own: so on resume the frame can adopt the very cells the
codec rebuilt for the saved nested functions, and a variable assigned after the resume is seen
by a nested function made before the pause, as in plain Python.

`FrameCells` maps each such variable name to its cell. Generated code saves it at every point
with the other locals; the codec writes it *weakly*: only the cells that some value saved
before it (a live nested function) already refers to, so a variable that no live function
shares costs nothing more and need not be saveable beyond what liveness asks.
"""

from __future__ import annotations

import types

__all__ = ["FrameCells"]


class FrameCells:
    """Variable name -> the frame's cell for it (see the module docstring)."""

    __slots__ = ("cells",)

    def __init__(self, cells: dict[str, types.CellType]) -> None:
        self.cells = cells

    def __repr__(self) -> str:
        return f"<FrameCells {sorted(self.cells)}>"
