"""``return`` inside a loop in a ``try`` whose ``finally`` pauses, after an earlier ``return``.

The lowering records ``return v`` and breaks out of the loop; a check after the loop keeps
leaving the ``try`` part. That check was added only when the loop's body added the kind
"return" to the set of recorded exits, so an earlier ``return`` in the same ``try`` body hid
it: "after loop" ran and the function returned "late". The returns are now counted.
"""

from durable import PauseForEventException
from regressions import check, log

BUG = None  # fixed; kept as a regression test


async def program():
    try:
        if check("early", False):
            return "first"
        for _ in range(2):
            return "early"
        log("after loop")
        return "late"
    finally:
        raise PauseForEventException("f")
