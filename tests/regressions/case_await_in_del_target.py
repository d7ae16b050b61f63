"""An awaited durable call inside a ``del`` target (``del d[await child()]``).

Valid Python; DESIGN §3 promises `del` and awaited calls inside expressions. make_durable
refuses it: "this statement cannot await a call here; await it on its own line".
Found by probing the property tests' grammar.
"""

from durable import PauseForEventException
from regressions.children import child_plain

BUG = "make_durable refuses an awaited call inside a `del` target"


async def program():
    d = {2: "two", 3: "three"}
    raise PauseForEventException("p")
    del d[await child_plain(1)]
    return d
