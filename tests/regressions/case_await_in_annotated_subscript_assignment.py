"""An annotated assignment to a subscript whose value awaits a durable call.

``d[0]: int = await child(...)`` is valid Python; DESIGN §3 promises "assignments of every
form". make_durable refuses it ("this statement cannot await a call here; await it on its own
line"), while ``q: int = await child(...)`` and ``d[0] = await child(...)`` both work.
Found by probing the property tests' grammar.
"""

from regressions.children import child_pause

BUG = None  # fixed; kept as a regression test


async def program():
    d = {}
    d[0]: int = await child_pause(1)
    return d
