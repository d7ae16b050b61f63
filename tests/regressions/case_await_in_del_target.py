"""An awaited durable call inside a ``del`` target (``del d[await child()]``).

Valid Python; DESIGN §3 promises `del` and awaited calls inside expressions. make_durable
refuses it: "this statement cannot await a call here; await it on its own line".
Found by probing the property tests' grammar.
"""

from durable import PauseForEventException
from regressions.children import child_plain

BUG = None  # fixed; kept as a regression test


async def program():
    d = {2: "two", 3: "three"}
    raise PauseForEventException("p")
    del d[await child_plain(1)]
    return d
