"""The two helpers generated code calls: iterate resumably, and step an iterator back.

Lists, tuples, strings and ranges, dicts (and their key, value and item views) and sets are
iterated with their native iterators, so a loop behaves exactly as in plain Python while it
runs: appending to a list during the loop is seen, changing a dict's or set's size raises
Python's own RuntimeError. The codec saves those iterators by their position (a dict iterator
as how many items it has still to yield: always the last ones of the dict, in order). A set
may iterate in another order once rebuilt, so a restored set iterator is a `SetResume`, which
yields exactly the saved remaining items. Anything else (an OrderedDict, a user mapping's
view) is copied to a list first; other iterators (a generator, a file) run natively, cannot be
saved, and a pause while one is live fails with a clear error.
"""

from __future__ import annotations

import gc
from collections.abc import ItemsView, Iterable, Iterator, KeysView, ValuesView
from typing import Any, cast

__all__ = [
    "CONTAINER_ITERATORS",
    "RaisingIterator",
    "SetResume",
    "durable_iter",
    "iterated_container",
    "rewind",
]

_NATIVE = (list, tuple, str, range)
_SNAPSHOT = (dict, set, frozenset, KeysView, ValuesView, ItemsView)

# Native iterators the codec saves, by what they yield.
CONTAINER_ITERATORS: dict[type, str] = {
    type(iter({})): "keys",
    type(iter({}.values())): "values",
    type(iter({}.items())): "items",
    type(iter(set())): "set",
}


def durable_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    if type(iterable) in _NATIVE:
        return iter(iterable)
    if isinstance(iterable, _SNAPSHOT):
        it = iter(iterable)
        if type(it) in CONTAINER_ITERATORS:
            return it
        return iter(list(iterable))
    return iter(iterable)


def rewind(it: Iterator[Any]) -> Iterator[Any]:
    """An iterator one item behind `it` (a restored one), so a resumed loop re-fetches its
    current item: `it` itself, stepped back, where that can be done in place."""
    if isinstance(it, SetResume):
        it.replay = True
        return it
    if isinstance(it, RaisingIterator):
        it.replay = True  # the re-fetch gives the current item back; the step after raises
        return it
    kind = CONTAINER_ITERATORS.get(type(it))
    if kind is not None:
        return _dict_iterator_behind(it, kind)
    if type(it) is enumerate:
        inner, count = cast(tuple[Any, ...], it.__reduce__())[1]
        return enumerate(rewind(inner), count - 1)
    if type(it) is zip:
        reduced = cast(tuple[Any, ...], it.__reduce__())
        strict = len(reduced) > 2 and bool(reduced[2])
        return zip(*map(rewind, reduced[1]), strict=strict)
    reduced = cast(tuple[Any, ...], it.__reduce__())
    if len(reduced) > 2:  # exhausted iterators reduce to (iter, (empty,)) with no index
        it.__setstate__(reduced[2] - 1)  # type: ignore[attr-defined]  # sequence iterators
    return it


def _dict_iterator_behind(it: Iterator[Any], kind: str) -> Iterator[Any]:
    container = iterated_container(it)
    if kind == "set" or not isinstance(container, dict):
        return it  # not restored by the codec: a set iterator is restored as a SetResume
    try:
        remaining = len(it.__reduce__()[1][0])
    except RuntimeError as e:  # the dict changed size: the step after the re-fetch raises
        broken = RaisingIterator(str(e))
        broken.replay = True
        return broken
    return dict_iterator_at(container, kind, min(remaining + 1, len(container)))


def dict_iterator_at(container: dict[Any, Any], kind: str, remaining: int) -> Iterator[Any]:
    """A native iterator of `kind` over `container` with its last `remaining` items to go."""
    view = container if kind == "keys" else getattr(container, kind)()
    it = iter(view)
    for _ in range(len(container) - remaining):
        next(it)
    return cast(Iterator[Any], it)


def iterated_container(it: Iterator[Any]) -> Any:
    """The dict or set a native container iterator walks; None once it is exhausted."""
    for referent in gc.get_referents(it):
        if isinstance(referent, dict | set | frozenset):
            return referent
    return None


class SetResume:
    """A set iterator restored from a snapshot: yields the saved remaining items in their saved
    order and, as the native one, raises RuntimeError (from then on) once the set's size
    changes; never after it is exhausted.

    `rewind` cannot give back the item a resumed loop re-fetches (a native set iterator does
    not say what it yielded last), so it yields ``None`` once in its place: the loop target
    is then re-read from the saved locals, or is dead at the pause and never read.
    """

    __slots__ = ("container", "index", "items", "replay", "size")

    def __init__(self, container: set[Any] | frozenset[Any], items: list[Any], size: int):
        self.container: set[Any] | frozenset[Any] | None = container
        self.items = items
        self.index = 0
        self.size = size
        self.replay = False

    def __iter__(self) -> SetResume:
        return self

    def __next__(self) -> Any:
        if self.container is None:
            raise StopIteration
        if self.replay:
            self.replay = False
            return None
        if len(self.container) != self.size:
            self.size = -1  # sticky, as CPython's
            raise RuntimeError("Set changed size during iteration")
        if self.index >= len(self.items):
            self.container = None
            raise StopIteration
        self.index += 1
        return self.items[self.index - 1]

    def remaining(self) -> list[Any]:
        return self.items[self.index :]


class RaisingIterator:
    """A restored container iterator whose container had changed size before the pause: its
    next `next` raises what the native iterator would have raised.

    As CPython's, it raises only when stepped: the rest of the loop body after the pause runs
    first (and a ``break`` there ends the loop without an error). `rewind` makes it yield
    ``None`` once first, in place of the item the resumed loop re-fetches (as `SetResume`
    does): the loop target is then re-read from the saved locals, or is dead at the pause.
    """

    __slots__ = ("message", "replay")

    def __init__(self, message: str) -> None:
        self.message = message
        self.replay = False

    def __iter__(self) -> RaisingIterator:
        return self

    def __next__(self) -> Any:
        if self.replay:
            self.replay = False
            return None
        raise RuntimeError(self.message)
