"""A variable live across a pause only through a ``for`` loop that may run zero times.

``a`` is the target of a ``for`` after the pause, then read after the loop. The liveness
analysis treats the ``for`` target as always assigned, so ``a`` is not saved at the pause; but
the loop runs zero times, ``a`` keeps its value in plain Python, and the resumed durable run
raises ``UnboundLocalError: cannot access local variable 'a'``.
Found by tests/test_property.py (shrunk by hand).
"""

from durable import PauseForEventException

BUG = None  # fixed; kept as a regression test


async def program():
    a = 1
    raise PauseForEventException("p")
    for a in range(0):
        pass
    return a
