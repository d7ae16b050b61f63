"""A nested durable call with a missing argument.

Plain Python raises ``TypeError("child_plain() missing 1 required positional argument: 'x'")``;
durable binds the arguments with `inspect.Signature.bind` and raises
``TypeError("missing a required argument: 'x'")``: same type, but a different message that does
not name the function. Minor, but the caught exception's args differ from plain Python's.
Found by tests/test_property.py (a keyword argument a child does not have; shrunk by hand).
"""

from regressions import log
from regressions.children import child_plain

BUG = None  # fixed; kept as a regression test


async def program():
    try:
        await child_plain()
    except TypeError as e:
        log("caught", e.args)
    return "done"
