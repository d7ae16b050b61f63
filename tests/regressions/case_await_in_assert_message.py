"""An awaited durable call in an ``assert`` message.

Valid Python (the message is evaluated only when the test fails); DESIGN §3 and the README
promise `assert` and awaited calls inside expressions. make_durable refuses it:
"this statement cannot await a call here; await it on its own line".
Found by probing the property tests' grammar.
"""

from regressions import log
from regressions.children import child_plain

BUG = None  # fixed; kept as a regression test


async def program():
    try:
        assert len("") == 1, await child_plain(1)
    except AssertionError as e:
        log("caught", e.args)
    return "done"
