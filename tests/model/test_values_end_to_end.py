"""Values live across a real pause come back exactly, through `make_durable` and a backend:
a path, a compiled regex, a pydantic model with secret and URL fields, a set in its order, an
exception chain; and a failed instance's saved outcome keeps its ``__cause__``."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import pytest
from pydantic import BaseModel, HttpUrl, SecretStr

from durable import DurableBackend, PauseForEventException, make_durable
from durable.stores import InMemoryStateStore


class Account(BaseModel):
    token: SecretStr
    site: HttpUrl
    home: pathlib.Path


async def _keep_values(tag: str) -> tuple[Any, ...]:
    path = pathlib.Path("/srv") / tag
    pattern = re.compile(r"(\w+)-\d+", re.IGNORECASE)
    account = Account(token=SecretStr("s3cret"), site=HttpUrl("https://example.com/x"), home=path)
    labels = {"s0", "t", 3, tag}
    try:
        try:
            raise KeyError(tag)
        except KeyError as inner:
            raise ValueError("outer") from inner
    except ValueError as e:
        error = e
    order = list(labels)
    raise PauseForEventException("go")
    return path, pattern, account, error, labels, order


keep_values = make_durable(_keep_values)


async def _fail_chained(tag: str) -> None:
    raise PauseForEventException("go")
    try:
        int(tag)
    except ValueError as e:
        raise LookupError(f"no tag {tag!r}") from e


fail_chained = make_durable(_fail_chained)


async def _run_after_event(program: Any, instance_id: str, *args: Any) -> Any:
    backend = DurableBackend(InMemoryStateStore())
    with pytest.raises(PauseForEventException):
        await program(*args, orchestration_backend=backend, instance_id=instance_id)
    backend.publish_event(instance_id, "go")
    return backend, await program(*args, orchestration_backend=backend, instance_id=instance_id)


async def test_values_live_across_a_pause_come_back_exactly() -> None:
    _, result = await _run_after_event(keep_values, "values", "v1")
    path, pattern, account, error, labels, order = result
    assert type(path) is type(pathlib.Path()) and path == pathlib.Path("/srv/v1")
    assert (pattern.pattern, pattern.flags) == (r"(\w+)-\d+", re.compile("", re.I).flags)
    assert pattern.match("Ab-12")
    assert type(account) is Account and account.token.get_secret_value() == "s3cret"
    assert type(account.site) is HttpUrl and account.home == path
    assert list(labels) == order  # the set iterates as it did before the pause
    assert type(error) is ValueError and type(error.__cause__) is KeyError
    assert error.__context__ is error.__cause__ and error.__suppress_context__


async def test_a_failed_instance_raises_its_saved_error_with_its_cause() -> None:
    backend = DurableBackend(InMemoryStateStore())
    with pytest.raises(PauseForEventException):
        await fail_chained("x", orchestration_backend=backend, instance_id="failed")
    backend.publish_event("failed", "go")
    with pytest.raises(LookupError) as first:
        await fail_chained("x", orchestration_backend=backend, instance_id="failed")
    assert type(first.value.__cause__) is ValueError
    # Called again: the outcome is read from the saved state, not computed again.
    with pytest.raises(LookupError) as again:
        await fail_chained("x", orchestration_backend=backend, instance_id="failed")
    assert again.value is not first.value
    assert str(again.value) == "no tag 'x'"
    assert type(again.value.__cause__) is ValueError
    assert again.value.__cause__.args == first.value.__cause__.args
    assert again.value.__suppress_context__ is True
    assert again.value.__context__ is again.value.__cause__
