"""An awaited durable call in the subscript of an assignment target (``d[await c()] = v``).

Valid Python (the value is evaluated first, then the target's object and key); DESIGN §3
promises "assignments of every form" and awaited calls inside expressions. make_durable refuses
it: "this statement cannot await a call here; await it on its own line". The same holds for an
annotated assignment to a subscript (``d[0]: int = await c()``).
Found by probing the property tests' grammar.
"""

from regressions import log
from regressions.children import child_pause

BUG = None  # fixed; kept as a regression test


async def program():
    d = {}
    d[await child_pause(1)] = log("value") or 5
    return d
