"""A ``match`` capture pattern that does not match must leave the captured name alone.

``t`` is bound before the pause and read after the ``match``; its only later binding is a
capture in a case that does not match. The liveness analysis treats the capture as always
assigned, so ``t`` is not saved at the pause, and the resumed durable run raises
``UnboundLocalError`` where plain Python returns 1.
Found by probing the property tests' grammar (the same family as
case_for_target_kept_by_empty_loop).
"""

from durable import PauseForEventException

BUG = None  # fixed; kept as a regression test


async def program():
    t = 1
    raise PauseForEventException("p")
    match []:
        case [t, *_]:
            pass
    return t
