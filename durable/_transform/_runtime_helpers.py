"""The two helpers generated code calls: iterate resumably, and step an iterator back.

Sequences (list, tuple, str, range) are iterated with their native iterators, which the codec
saves as (sequence, index): a list keeps its identity, so appending to it during the loop
behaves as in plain Python. Dicts, sets and their views are copied to a list first, so that the
order after resume is the order the loop started with. Anything else (a generator, a file) is
iterated natively; it cannot be saved, and a pause while it is live fails with a clear error.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, KeysView, ValuesView
from typing import Any, cast

__all__ = ["durable_iter", "rewind"]

_NATIVE = (list, tuple, str, range)
_SNAPSHOT = (dict, set, frozenset, KeysView, ValuesView, ItemsView)


def durable_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    if type(iterable) in _NATIVE:
        return iter(iterable)
    if isinstance(iterable, _SNAPSHOT):
        return iter(list(iterable))
    return iter(iterable)


def rewind(it: Iterator[Any]) -> None:
    """Step a restored sequence iterator back by one, so the loop re-fetches its current item."""
    reduced = cast(tuple[Any, ...], it.__reduce__())
    if len(reduced) > 2:  # exhausted iterators reduce to (iter, (empty,)) with no index
        it.__setstate__(reduced[2] - 1)  # type: ignore[attr-defined]  # sequence iterators
