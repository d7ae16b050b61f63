"""An awaited durable child that pauses inside a ``match`` case guard.

Plain Python: the guard awaits the child, which (in the oracle) records its pause and returns 10;
the case body runs. Durable: the call in the guard is run as an inline call, where a pause cannot
be saved, and the run fails at run time with UnsupportedSyntaxError, whose message blames
"`with`, `async for`, `finally`, a comprehension or a plain coroutine" — none of which is here.
DESIGN §3 promises `match` and nested durable calls across pauses, and refusals at
make_durable time where they can be known.
Found by tests/test_property.py (shrunk by hand).
"""

from regressions import log
from regressions.children import child_pause

BUG = None  # fixed; kept as a regression test


async def program():
    match 1:
        case 1 if await child_pause(0) > 0:
            log("matched")
    return "done"
