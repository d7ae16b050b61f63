"""A ``break`` directly in the body of a ``while`` whose condition awaits and that has ``else``.

The loop is lowered to ``while True:`` with a flag keeping the ``else`` clause's meaning; a
``break`` at the top level of the body made the flagging return a nested list, and
make_durable crashed with ``AttributeError: 'list' object has no attribute '_fields'``.
Found by tests/test_property.py (shrunk by hand).
"""

from regressions import log, tick
from regressions.children import child_pause

BUG = None  # fixed; kept as a regression test


async def program():
    w = 0
    while w < 2 and await child_pause(w) > 0:
        w += 1
        tick()
        break
    else:
        log("else")
    log("w", w)
    return w
