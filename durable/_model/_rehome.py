"""Renaming the module a saved snapshot refers to: how `__main__` names are re-homed.

A snapshot names code by ``"module:qualname"`` in four places: the root program
(``program.qualname``), each frame's ``function``, a retry wait's ``step``, and inside the
saved values the ``cls`` of the class nodes (``enum``, ``ntuple``, ``dataclass``, ``model``,
``exc``, ``class``) and the ``p`` of nested-function nodes (``fn``). `rename_module` rewrites
those, and nothing else: user data never sits under those keys of a node (user dicts are flat
``[k, v, ...]`` lists, dataclass and model fields are keyed by identifiers, a frame's locals by
variable names), except inside a model field saved as the model's own JSON data (its
``"json"`` list), which is left as it is.

Pure: a snapshot as JSON in, a new one out. The runtime's `durable.rehome` reads and commits.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["rename_module"]

_CLASS_TAGS: Final = frozenset({"enum", "ntuple", "dataclass", "model", "exc", "class"})


class _Renamer:
    def __init__(self, old: str, new: str) -> None:
        self.prefix = f"{old}:"
        self.new = new
        self.renamed: dict[str, str] = {}  # from -> to, in the order met

    def ref(self, ref: object) -> object:
        if type(ref) is not str or not ref.startswith(self.prefix):
            return ref
        to = f"{self.new}:{ref[len(self.prefix) :]}"
        self.renamed.setdefault(ref, to)
        return to

    def value(self, value: Any) -> Any:
        """A codec value with its references renamed (JSON depth is bounded by the codec)."""
        if type(value) is list:
            return [self.value(x) for x in value]
        if type(value) is not dict:
            return value
        tag = value.get("$t")
        opaque = value.get("json") if tag == "model" else None
        out: dict[str, Any] = {}
        for key, x in value.items():
            if (key == "cls" and tag in _CLASS_TAGS) or (key == "p" and tag == "fn"):
                out[key] = self.ref(x)
            elif key == "v" and type(opaque) is list and type(x) is dict:
                out[key] = {f: y if f in opaque else self.value(y) for f, y in x.items()}
            else:
                out[key] = self.value(x)
        return out


def rename_module(
    state: dict[str, Any], old: str, new: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """`state` (a snapshot as JSON, current format) with every reference to module `old`
    renamed to module `new`, and the references renamed (from -> to: the program and the
    frames' functions, then the references in values); `state` is not changed.
    """
    renamer = _Renamer(old, new)
    for frame in [state.get("program")] + ((state.get("call_stack") or {}).get("frames") or []):
        if type(frame) is dict:  # the program and the frames' functions first in `renamed`
            renamer.ref(frame.get("qualname", frame.get("function")))
    out: dict[str, Any] = renamer.value(state)  # the envelope has no "$t": only values match
    program = out.get("program")
    if type(program) is dict:
        program["qualname"] = renamer.ref(program.get("qualname"))
    for frame in (out.get("call_stack") or {}).get("frames") or ():
        if type(frame) is dict:
            frame["function"] = renamer.ref(frame.get("function"))
    wait = out.get("wait")
    if type(wait) is dict and wait.get("kind") == "retry":
        wait["step"] = renamer.ref(wait.get("step"))
    return out, renamer.renamed
