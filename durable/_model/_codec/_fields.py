"""A pydantic model field the codec cannot save itself, as the model's own data.

`_model_field_data`: a field value of a type only the model knows how to save (an
``HttpUrl``, an ``EmailStr``, a library's type) as the model's JSON-mode serialisation of that
field, which its validation turns back into the value; a ``SecretStr`` or ``SecretBytes`` as
its revealed value (a secret nested in a container would be serialised masked: refused).
"""

from __future__ import annotations

import collections

from pydantic import BaseModel
from pydantic.types import _SecretBase

from ._types import _MISS, _Refuse


def _model_field_data(model: BaseModel, name: str, x: object) -> object:
    """Field `name` of `model` as its own serialisation gives it (JSON mode), or a secret's
    revealed value: data its validation turns back into `x`."""
    if isinstance(x, _SecretBase):
        return x.get_secret_value()
    if _holds_secret(x):
        raise _Refuse(
            f"field {name!r} holds a pydantic secret inside a container; its serialisation "
            "masks it. Make the secret a field of its own (a SecretStr field is saved revealed)"
        )
    try:
        data = type(model).__pydantic_serializer__.to_python(
            model, mode="json", include={name}, by_alias=False, round_trip=True
        )
    except Exception:
        return _MISS
    return data[name] if type(data) is dict and name in data else _MISS


def _holds_secret(root: object) -> bool:
    todo, seen = [root], set()
    while todo:
        x = todo.pop()
        if isinstance(x, _SecretBase):
            return True
        if isinstance(x, list | tuple | set | frozenset | collections.deque) and id(x) not in seen:
            seen.add(id(x))
            todo.extend(x)
        elif isinstance(x, dict) and id(x) not in seen:
            seen.add(id(x))
            todo.extend(x.values())
    return False
