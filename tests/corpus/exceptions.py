"""try/except/else/finally around pauses; broad handlers must not swallow a pause."""

from __future__ import annotations

from durable import PauseForEventException, make_durable

from . import log


@make_durable
async def case_raise_after_resume_caught():
    try:
        log("try")
        raise PauseForEventException("go")
        raise ValueError("after resume", 1)
    except ValueError as e:
        log("caught", e.args)
        result = e.args
    log("after try")
    return result


@make_durable
async def case_pause_in_except_bare_raise():
    try:
        raise KeyError("missing")
    except KeyError as e:
        log("handler", e.args)
        raise PauseForEventException("in-handler")
        log("handler after pause", e.args)
        raise


@make_durable
async def case_pause_in_except_reraise_caught_outside():
    try:
        try:
            raise LookupError("inner", 7)
        except LookupError:
            raise PauseForEventException("h")
            raise
    except LookupError as outer:
        log("outer caught", type(outer).__name__, outer.args)
        return outer.args


@make_durable
async def case_pause_in_except_raise_from():
    try:
        try:
            raise KeyError("k")
        except KeyError as e:
            raise PauseForEventException("h")
            raise RuntimeError("wrapped") from e
    except RuntimeError as r:
        cause = r.__cause__
        log("cause", type(cause).__name__, cause.args, r.args)
        return r.args


@make_durable
async def case_except_exception_around_pause():
    try:
        log("before")
        raise PauseForEventException("go")
        log("after")
    except Exception as e:
        log("swallowed", type(e).__name__)
    return "ok"


@make_durable
async def case_bare_except_around_pause():
    try:
        raise PauseForEventException("go")
        log("after")
    except:
        log("swallowed")
        raise
    return "ok"


@make_durable
async def case_except_baseexception_around_pause():
    try:
        raise PauseForEventException("go")
        log("after")
    except BaseException as e:
        log("swallowed", type(e).__name__)
    return "ok"


@make_durable
async def case_except_tuple_with_baseexception_around_pause():
    try:
        raise PauseForEventException("go")
        log("after")
        raise OSError("real")
    except (ValueError, BaseException) as e:
        log("caught", type(e).__name__, e.args)
    return "ok"


@make_durable
async def case_finally_around_pause():
    try:
        log("body start")
        raise PauseForEventException("one")
        log("body middle")
        raise PauseForEventException("two")
        log("body end")
    finally:
        log("finally")
    log("after")
    return "ok"


@make_durable
async def case_finally_with_exception_after_pause():
    try:
        raise PauseForEventException("go")
        raise ValueError("escapes")
    finally:
        log("finally")


@make_durable
async def case_try_else_with_pause():
    try:
        log("body")
    except ValueError:
        log("never")
    else:
        log("else before")
        raise PauseForEventException("else")
        log("else after")
    finally:
        log("finally")
    return "ok"


@make_durable
async def case_nested_try_pauses():
    try:
        try:
            raise PauseForEventException("inner")
            raise IndexError("i")
        except KeyError:
            log("wrong handler")
        finally:
            log("inner finally")
            value = 1
        log("not reached")
    except IndexError as e:
        log("outer caught", e.args)
        raise PauseForEventException("in-outer-handler")
        log("handler end", value)
    return value


@make_durable
async def case_exception_state_across_pause_in_handler():
    caught = []
    for exc in (ValueError("v"), TypeError("t")):
        try:
            raise exc
        except (ValueError, TypeError) as e:
            raise PauseForEventException(type(e).__name__)
            caught.append((type(e).__name__, e.args))
    log("caught", caught)
    return caught


# Undecorated: make_durable may refuse a pause inside `finally` (the harness makes them durable).


async def case_pause_in_finally_after_return():
    try:
        log("body")
        return "from body"
    finally:
        log("finally before")
        raise PauseForEventException("in-finally")
        log("finally after")


async def case_pause_in_finally_during_exception():
    try:
        raise ValueError("pending")
    finally:
        log("finally before")
        raise PauseForEventException("in-finally")
        log("finally after")


async def case_pause_in_finally_in_loop_with_break_and_continue():
    out = []
    for i in range(4):
        try:
            if i == 1:
                continue
            if i == 3:
                break
            out.append(i)
        finally:
            raise PauseForEventException(f"fin-{i}")
            log("finally", i)
    return out
