"""The vocabulary the passes share: the names generated code reserves, and node builders.

Every hidden name starts with `PREFIX` (a user's name that does is refused). The generated
module defines ``FACTORY(*HELPERS)``, which returns ``async def IMPL(FR)``; in its body
``IP`` is the point to resume at (0: running normally), ``LOC`` the saved locals to
restore and ``LIVE`` the locals saved at a point. What it may do with ``FR`` (the frame)
is stated by `FrameProtocol`.
"""

from __future__ import annotations

import ast
from typing import TypeVar

__all__ = ["FACTORY", "FR", "HELPERS", "IMPL", "IP", "LIVE", "LOC", "PREFIX", "N", "_at", "_name"]

PREFIX = "_dur_"
IP, FR, LOC, LIVE = "_dur_ip", "_dur_fr", "_dur_l", "_dur_v"
FACTORY = "_dur_factory"
IMPL = "_dur_impl"  # never the user's name: a recursive call must reach the module global
HELPERS = ("_dur_iter", "_dur_rewind")
N = TypeVar("N", bound=ast.AST)


def _name(id_: str, store: bool = False) -> ast.Name:
    return ast.Name(id=id_, ctx=ast.Store() if store else ast.Load())


def _at(node: N, where: ast.AST) -> N:
    return ast.copy_location(node, where)
