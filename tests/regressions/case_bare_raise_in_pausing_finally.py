"""A bare ``raise`` in a ``finally`` that pauses, while an exception is propagating through it.

Plain Python: the bare ``raise`` re-raises the exception propagating through the ``finally``
(``ValueError("v")``). Durable: a ``finally`` that pauses is lowered to a completion record and
its code runs after the ``try``, outside any handler, so the bare ``raise`` finds no active
exception and raises ``RuntimeError("No active exception to reraise")`` (inside an outer
handler it re-raises that handler's exception instead).
Found by probing the property tests' grammar (shrunk by hand).
"""

from durable import PauseForEventException

BUG = None  # fixed; kept as a regression test


async def program():
    try:
        raise ValueError("v")
    finally:
        raise PauseForEventException("p")
        raise
