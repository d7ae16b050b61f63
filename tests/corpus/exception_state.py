"""The exception being handled, seen from code with points: ``sys.exc_info()``, a bare
``raise`` and implicit chaining (``__context__``, ``__cause__``) inside ``finally`` blocks and
``except`` handlers that pause or call a durable child, before and after the pause."""

from __future__ import annotations

import sys

from durable import PauseForEventException, make_durable

from . import log


def current(label):
    """Log the exception being handled (type and args), or None."""
    e = sys.exc_info()[1]
    log(label, None if e is None else (type(e).__name__, e.args))


def chain(label, e):
    """Log an exception's chain: its context and cause, two levels deep."""

    def one(x):
        return None if x is None else (type(x).__name__, x.args)

    c = e.__context__
    log(label, one(e), one(c), one(e.__cause__), one(c and c.__context__), e.__suppress_context__)


@make_durable
async def exc_child(x):
    raise PauseForEventException(f"ec-{x}")
    return x


@make_durable
async def exc_quick(x):
    """A nested durable call that never pauses: the caller's exceptions stay live objects
    (a saved exception loses its ``__context__`` and ``__cause__``, see the codec)."""
    log("exc_quick", x)
    return x


@make_durable
async def case_exc_info_in_pausing_finally():
    try:
        try:
            raise ValueError("v")
        finally:
            current("finally before")
            raise PauseForEventException("f")
            current("finally after")
    except ValueError as e:
        chain("caught", e)
        return "caught"


@make_durable
async def case_exc_info_in_finally_without_exception():
    try:
        log("body")
    finally:
        current("finally before")
        raise PauseForEventException("f")
        current("finally after")
    return "done"


@make_durable
async def case_exc_info_in_finally_of_a_return():
    try:
        return "returned"
    finally:
        current("finally")
        await exc_child(1)
        current("finally after call")


@make_durable
async def case_raise_in_pausing_finally_chains():
    try:
        try:
            raise KeyError("first")
        finally:
            raise PauseForEventException("f")
            await exc_quick(2)
            raise ValueError("second")
    except ValueError as e:
        chain("caught", e)
        return "ok"


@make_durable
async def case_raise_in_finally_before_pause_chains():
    try:
        try:
            raise KeyError("first")
        finally:
            if len(sys.argv) >= 0:
                try:
                    raise ValueError("second")
                except ValueError as e:
                    chain("inner", e)
            raise PauseForEventException("f")
    except KeyError as e:
        chain("caught", e)
        return "ok"


@make_durable
async def case_pausing_finally_inside_handler_keeps_context():
    try:
        try:
            raise KeyError("outer")
        except KeyError:
            try:
                try:
                    raise LookupError("deep")
                except LookupError:
                    raise ValueError("mid")
            finally:
                current("finally")
                await exc_quick(1)
                current("finally after")
    except ValueError as e:
        chain("caught", e)
        return "ok"


@make_durable
async def case_raise_from_in_pausing_finally():
    try:
        try:
            raise KeyError("k")
        finally:
            await exc_child(2)
            raise RuntimeError("r") from None
    except RuntimeError as e:
        chain("caught", e)
        return "ok"


@make_durable
async def case_exc_info_in_pausing_handler():
    try:
        raise ValueError("h")
    except ValueError:
        current("handler before")
        raise PauseForEventException("h")
        current("handler after")
        try:
            raise KeyError("inside")
        except KeyError as e:
            chain("inside", e)
    current("after handler")
    return "ok"


@make_durable
async def case_nested_pausing_handlers_chain():
    try:
        raise KeyError("a")
    except KeyError:
        raise PauseForEventException("h1")
        try:
            raise ValueError("b")
        except ValueError:
            raise PauseForEventException("h2")
            current("inner handler after")
            try:
                raise TypeError("c")
            except TypeError as e:
                chain("innermost", e)
                return "ok"


@make_durable
async def case_pausing_handler_raises_new():
    try:
        try:
            raise KeyError("a")
        except KeyError:
            await exc_child(3)
            raise ValueError("b")
    except ValueError as e:
        chain("caught", e)
        return "ok"


@make_durable
async def case_pausing_finally_in_pausing_handler():
    try:
        raise KeyError("outer")
    except KeyError:
        raise PauseForEventException("h")
        try:
            raise ValueError("inner")
        finally:
            current("finally")
            raise PauseForEventException("f")
            current("finally after")
    return "unreachable"


@make_durable
async def case_bare_raise_in_pausing_finally_of_handler():
    try:
        try:
            raise KeyError("outer")
        except KeyError:
            try:
                log("body")
            finally:
                raise PauseForEventException("f")
                raise
    except KeyError as e:
        chain("caught", e)
        return "ok"


@make_durable
async def case_exception_swallowed_by_break_in_pausing_finally():
    for i in range(2):
        try:
            raise ValueError(i)
        finally:
            current("finally")
            raise PauseForEventException(f"f{i}")
            break  # noqa: B012
    current("after")
    return i
