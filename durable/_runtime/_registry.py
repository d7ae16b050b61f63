"""Every durable program made in this process, by its saved name ("module:qualname").

A room of its own so that the engine can find the program of a saved frame without importing
the module that defines programs (which imports the engine).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ProgramBase", "registry"]

# Programs, and steps (whose finished or retrying frames a snapshot names too).
registry: dict[str, Any] = {}


class ProgramBase:
    """The base of `DurableProgram`: how the engine recognises a durable call without
    importing the module that defines programs (which imports the engine)."""

    __slots__ = ()
