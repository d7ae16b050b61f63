"""``return`` inside a loop inside a ``try`` whose ``finally`` pauses.

The ``try`` is lowered to a completion record because its ``finally`` pauses; the lowering turns
``return v`` into "record ("return", v); break" — but inside a loop that ``break`` only leaves the
loop, so the rest of the ``try`` body runs ("after loop" is logged, and any later ``return`` or
side effect happens) before the ``finally`` and the recorded return. Plain Python leaves the
``try`` body at once.
Found by tests/test_property.py (shrunk by hand).
"""

from durable import PauseForEventException
from regressions import log

BUG = None  # fixed; kept as a regression test


async def program():
    try:
        for _ in range(2):
            return "early"
        log("after loop")
        return "late"
    finally:
        raise PauseForEventException("f")
