"""A walrus in an operand that is never evaluated must leave its target alone.

``t`` is bound before the pause and read at the end; its only later binding is a walrus in the
right operand of an ``and`` whose left operand is false (and likewise in the unused branch of a
conditional expression). The liveness analysis treats the walrus as always assigned, so ``t``
is not saved at the pause, and the resumed durable run raises ``UnboundLocalError`` where plain
Python returns 1.
Found by probing the property tests' grammar (the same family as
case_for_target_kept_by_empty_loop).
"""

from durable import PauseForEventException

BUG = None  # fixed; kept as a regression test


async def program():
    t = 1
    flag = False
    raise PauseForEventException("p")
    if flag and (t := 5):
        pass
    return t
