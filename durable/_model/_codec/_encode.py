"""The codec's `Encoder`: a graph of Python values to codec JSON.

The encoder's driver (handler generators on an explicit stack, ids, out-of-line nodes, error
paths), its handlers for containers, iterators, exceptions, dataclasses and models, how a
user class is classified (`Encoder._classify`, `_e_enum`, `_e_class`), and why a value that
has no handler cannot be saved (`_refusal_reason`). Leaf values are encoded by `_leaves`.
"""

from __future__ import annotations

import _thread
import array
import collections
import enum
import functools
import io
import sys
import types
from collections.abc import Callable, Generator, Mapping
from typing import Any, Final, Literal, TypeAlias, cast

from pydantic import BaseModel

from ..._cells import FrameCells
from ..._iterators import (
    CONTAINER_ITERATORS,
    RaisingIterator,
    SetResume,
    iterated_container,
)
from ._fields import _model_field_data
from ._functions import _e_cell, _e_frame_cells, _e_function
from ._leaves import (
    _LEAF_ENCODERS,
    _bare,
    _e_array,
    _e_bytearray,
    _e_int,
)
from ._reasons import reason_for
from ._sets import table_size
from ._types import (
    _CLASS_REFERENCES,
    _FACTORIES,
    _INLINE_DEPTH,
    _ITER_KINDS,
    _MISS,
    _PUSHED,
    JSON,
    UnencodableValue,
    _class_ref,
    _dataclass_spec,
    _DataclassSpec,
    _exc_attr,
    _has_dataclass_fields,
    _ident_attr,
    _model_spec,
    _ModelSpec,
    _mro,
    _namedtuple_fields,
    _Node,
    _plain_str,
    _ref_name,
    _Refuse,
    _Sentinel,
    _short_repr,
    _type_name,
    _Unsupported,
)

# The iterator types the encoder has a handler for: sequence iterators (saved by type name),
# dict and set iterators and the stand-ins a resumed set iterator becomes; range iterators.
_ITER_TYPES: Final = {it_type: name for name, (_, it_type, _) in _ITER_KINDS.items()}
_CITER_TYPES: Final = (*CONTAINER_ITERATORS, SetResume, RaisingIterator)
_RANGE_ITERS: Final = frozenset(
    it_type for seq_type, it_type, _ in _ITER_KINDS.values() if seq_type is range
)

# ---------------------------------------------------------------------------------------------
# Why a value cannot be saved


# Built-in types with a handler: a subclass of one of them is refused by name.
_BUILTIN_BASES: Final = frozenset(
    {
        *_LEAF_ENCODERS,
        bytearray,
        list,
        tuple,
        dict,
        set,
        frozenset,
        collections.OrderedDict,
        collections.defaultdict,
        collections.Counter,
        collections.deque,
        array.array,
    }
)

_FUNCTION_TYPES: Final = frozenset(
    {
        types.FunctionType,
        types.MethodType,
        types.BuiltinFunctionType,
        types.WrapperDescriptorType,
        types.MethodWrapperType,
        types.MethodDescriptorType,
        types.ClassMethodDescriptorType,
        functools.partial,
        staticmethod,
        classmethod,
    }
)
_DICT_VIEWS: Final = frozenset({type({}.keys()), type({}.values()), type({}.items())})
_RUNTIME_PACKAGES: Final = frozenset(
    {
        "asyncio",
        "_asyncio",
        "anyio",
        "trio",
        "threading",
        "_thread",
        "concurrent",
        "multiprocessing",
    }
)
_FUNCTIONS_REASON: Final = (
    "functions cannot be saved; keep only data in variables live at a pause, "
    "or make it a module-level durable function"
)
_CONTROL_FLOW_REASON: Final = (
    "control-flow exceptions (a BaseException that is not an Exception: SystemExit, "
    "KeyboardInterrupt, GeneratorExit, asyncio.CancelledError) cannot be saved; keep what "
    "you need of it (its args) in a variable, or re-raise it before the pause"
)
_ARBITRARY_REASON: Final = (
    "instances of arbitrary classes cannot be saved; make it a dataclass or a pydantic model "
    "defined at module level, or keep only the data it holds"
)


def _refusal_reason(t: type) -> str:
    """Why values of type `t` (no handler, not an allowed user kind) cannot be saved."""
    if issubclass(t, type):
        return "classes cannot be saved; refer to the class by its name instead"
    if t in _FUNCTION_TYPES:
        return _FUNCTIONS_REASON
    special = _SPECIAL_REASONS.get(t) or reason_for(t)
    if special is not None:
        return special
    if issubclass(t, types.ModuleType):
        return "modules cannot be saved; import modules at module level, not in the function"
    if issubclass(t, io.IOBase):
        return "open files cannot be saved; close the file before the pause and reopen it after"
    socket_module = sys.modules.get("socket")
    if socket_module is not None and issubclass(t, socket_module.socket):
        return "sockets cannot be saved; close the connection before the pause and reconnect"
    if t.__module__.partition(".")[0] in _RUNTIME_PACKAGES:
        return (
            f"{_type_name(t)} holds live runtime state (locks, tasks, events, streams) and "
            "cannot be saved; create it again after the pause"
        )
    return _builtin_subclass_reason(t) or _iterator_reason(t) or _ARBITRARY_REASON


_SPECIAL_REASONS: Final[dict[type, str]] = {
    types.GeneratorType: "a generator is live here; iterate over a list instead",
    types.CoroutineType: "an un-awaited coroutine is live here; await it before the pause",
    types.AsyncGeneratorType: "an async generator is live here; collect its items in a list",
    types.FrameType: "frames cannot be saved",
    types.TracebackType: "tracebacks cannot be saved",
    type(_thread.allocate_lock()): "locks cannot be saved; acquire them again after the pause",
    type(_thread.RLock()): "locks cannot be saved; acquire them again after the pause",
    **{
        view: "dictionary views cannot be saved; use list(d.keys()) or a copy of the dict"
        for view in _DICT_VIEWS
    },
}


def _builtin_subclass_reason(t: type) -> str | None:
    for base in _mro(t)[1:-1]:
        if base in _BUILTIN_BASES:
            return f"subclasses of {base.__name__} cannot be saved; convert it to a plain one"
    return None


def _iterator_reason(t: type) -> str | None:
    if hasattr(t, "__next__"):
        return (
            "only iterators over lists, tuples, strings, ranges, dicts and sets (and enumerate "
            "or zip of those) can be saved; materialise this one with list(...)"
        )
    return None


# ---------------------------------------------------------------------------------------------
# The encoder


_LEAF: Final = 0  # no identity, no children: fn(v) -> JSON
_IDLEAF: Final = 1  # identity, no children: fn(v) -> node, gets "$id"
_PRE: Final = 2  # identity defined before children (created empty, then filled)
_POST: Final = 3  # identity defined after children (built from them)

_Child: TypeAlias = tuple[object, int, object]  # (value, step kind, step data)
_EncGen: TypeAlias = Generator[_Child, JSON, _Node]
_Handler: TypeAlias = tuple[int, Callable[[Any], Any]]

# Path step kinds, rendered only when an error is reported.
_IDX: Final = 0  # [3]
_ATTR: Final = 1  # .name
_KEY: Final = 2  # .<key 'k'>
_VAL: Final = 3  # ['k']
_ITEM: Final = 4  # {item}
_RAW: Final = 5  # literal text


def _render_step(kind: int, data: object) -> str:
    if kind == _IDX:
        return f"[{data}]"
    if kind == _ATTR:
        return f".{data}"
    if kind == _KEY:
        return f".<key {_short_repr(data)}>"
    if kind == _VAL:
        return f"[{_short_repr(data)}]"
    if kind == _ITEM:
        return f"{{{_short_repr(data)}}}"
    return str(data)


class _EFrame:
    """A container being encoded: its handler generator and where it sits."""

    __slots__ = ("child", "gen", "level", "n", "obj", "out", "prev")

    def __init__(self, gen: _EncGen, obj: object, n: int, level: int, out: bool) -> None:
        self.gen = gen
        self.obj = obj
        self.n = n  # its id for pre-order kinds; -1 for post-order kinds
        self.level = level  # nesting level below the root of its inline subtree
        self.out = out  # moved out of line into the root "deep" node
        self.prev: int | None = None  # post-order: the enclosing entry's mark (see _push)
        self.child: _Child | None = None  # the child being encoded, for error paths


_NATIVE_LEAVES: Final = frozenset({*_LEAF_ENCODERS, bytearray, array.array})
_NATIVE_ITEMS: Final = frozenset({list, tuple, set, frozenset, collections.deque})
_NATIVE_MAPS: Final = frozenset(
    {dict, collections.OrderedDict, collections.Counter, collections.defaultdict}
)
_LEAF_HANDLERS: Final[dict[type, _Handler]] = {t: (_LEAF, f) for t, f in _LEAF_ENCODERS.items()}


class Encoder:
    """Encodes values to codec JSON; identity is shared across all `encode` calls.

    Invariant: every object that received an id is pinned for the encoder's lifetime, so no
    id() is reused while the id numbering is live. A failed `encode` call leaves no trace.
    """

    def __init__(self) -> None:
        self._ids: dict[int, int] = {}
        self._pinned: list[object] = []
        self._active: dict[int, int] = {}  # id() of post-order objects being encoded -> mark
        self._stack: list[_EFrame] = []
        self._outs: list[JSON] = []
        self._root_path = ""
        self._user: dict[type, _Handler] = {}
        self._handlers: dict[type, _Handler] = dict(_LEAF_HANDLERS)
        self._handlers.update(
            {
                bytearray: (_IDLEAF, _e_bytearray),
                array.array: (_IDLEAF, _e_array),
                list: (_PRE, self._e_list),
                dict: (_PRE, functools.partial(self._e_map, "dict")),
                collections.OrderedDict: (_PRE, functools.partial(self._e_map, "odict")),
                collections.Counter: (_PRE, functools.partial(self._e_map, "counter")),
                collections.defaultdict: (_PRE, self._e_defaultdict),
                collections.deque: (_PRE, self._e_deque),
                set: (_PRE, functools.partial(self._e_set, "set")),
                tuple: (_POST, self._e_tuple),
                frozenset: (_POST, functools.partial(self._e_set, "frozenset")),
            }
        )
        self._handlers.update({t: (_POST, self._e_iter) for t in _ITER_TYPES})
        self._handlers.update({t: (_POST, self._e_citer) for t in _CITER_TYPES})
        self._handlers[enumerate] = (_POST, self._e_enumerate)
        self._handlers[zip] = (_POST, self._e_zip)
        self._handlers[types.FunctionType] = (_POST, _e_function)  # nested functions: _functions
        self._handlers[types.CellType] = (_PRE, _e_cell)
        self._handlers[FrameCells] = (_LEAF, functools.partial(_e_frame_cells, self._ids))

    def _reset(self) -> None:
        """Forget every id and cached class, as a new encoder (its handler table stays)."""
        self._ids.clear()  # cleared in place: the FrameCells handler holds this dict
        self._pinned.clear()
        self._active.clear()
        self._stack.clear()
        self._outs = []
        self._root_path = ""
        self._user.clear()

    @property
    def _next(self) -> int:
        return len(self._pinned)

    def encode(self, value: object, path: str) -> JSON:
        """Encode `value`, named `path` in error messages; raises `UnencodableValue`."""
        mark = len(self._pinned)
        self._root_path = path
        self._outs = []
        try:
            out = self._drive(value)
        except BaseException:
            for obj in self._pinned[mark:]:
                del self._ids[id(obj)]
            del self._pinned[mark:]
            raise
        finally:
            self._stack.clear()
            self._active.clear()
        outs, self._outs = self._outs, []
        return {"$t": "deep", "v": out, "d": outs} if outs else out

    def _drive(self, value: object) -> JSON:
        stack = self._stack
        try:
            out = self._start(value)
        except Exception as e:
            raise self._fail(value, e) from _cause(e)
        while stack:
            frame = stack[-1]
            try:
                child = frame.gen.send(None if out is _PUSHED else out)
            except StopIteration as stop:
                stack.pop()
                out = self._finish(frame, stop.value)
                continue
            except Exception as e:
                frame.child = None
                raise self._fail(frame.obj, e) from _cause(e)
            frame.child = child
            try:
                out = self._start(child[0])
            except Exception as e:
                raise self._fail(child[0], e) from _cause(e)
        assert out is not _PUSHED
        return out

    def _fail(self, value: object, e: Exception) -> UnencodableValue:
        parts = [self._root_path]
        parts.extend(_render_step(f.child[1], f.child[2]) for f in self._stack if f.child)
        path = "".join(parts)
        if isinstance(e, _Refuse):
            return UnencodableValue(path, e.type_name or _type_name(type(value)), e.reason)
        reason = f"reading it raised {type(e).__name__}: {e}"
        return UnencodableValue(path, _type_name(type(value)), reason)

    def _start(self, v: object) -> JSON | Literal[_Sentinel.PUSHED]:
        """Encode `v` if it is a leaf, else push a frame for it and return `_PUSHED`."""
        t = type(v)
        kind, fn = self._handlers.get(t) or self._user_handler(t)
        if kind == _LEAF:
            result: JSON = fn(v)
            return result
        n = self._ids.get(id(v))
        if n is not None:
            return {"$ref": n}
        if kind == _IDLEAF:
            node: _Node = fn(v)
            node["$id"] = self._define(v)
            return node
        self._push(fn(v), v, kind)
        return _PUSHED

    def _define(self, v: object) -> int:
        n = len(self._pinned)
        self._ids[id(v)] = n
        self._pinned.append(v)
        return n

    def _push(self, gen: _EncGen, v: object, kind: int) -> None:
        stack = self._stack
        level = stack[-1].level + 1 if stack else 0
        out = level >= _INLINE_DEPTH
        if kind == _PRE:
            frame = _EFrame(gen, v, self._define(v), 0 if out else level, out)
        else:
            # Re-entering a post-order object is fine when a new object was defined since
            # its last entry (the cycle went through a pre-order kind); otherwise it loops.
            prev = self._active.get(id(v))
            if prev == self._next:
                raise _Refuse(
                    "it is part of a reference cycle that passes only through tuples, "
                    "frozensets, exceptions or iterators; such a cycle cannot be rebuilt"
                )
            self._active[id(v)] = self._next
            frame = _EFrame(gen, v, -1, 0 if out else level, out)
            frame.prev = prev
        stack.append(frame)

    def _finish(self, frame: _EFrame, node: _Node) -> JSON:
        if frame.n >= 0:
            node["$id"] = frame.n
        elif "$id" in node:  # a post-order kind that defined itself before its last children
            self._leave(frame)
        else:
            oid = id(frame.obj)
            self._leave(frame)
            done = self._ids.get(oid)
            if done is None:
                node["$id"] = self._define(frame.obj)
            else:  # a nested occurrence on a cycle was encoded and defined first
                node["$same"] = done
        if frame.out:
            self._outs.append(node)
            return {"$out": len(self._outs) - 1}
        return node

    def _leave(self, frame: _EFrame) -> None:
        oid = id(frame.obj)
        if frame.prev is None:
            del self._active[oid]
        else:
            self._active[oid] = frame.prev

    # -- user classes ---------------------------------------------------------------------

    def _user_handler(self, t: type) -> _Handler:
        handler = self._user.get(t)
        if handler is None:
            try:
                handler = self._classify(t)
            except _Unsupported as e:
                handler = (_LEAF, _refuser(str(e)))
            except _Refuse as e:
                handler = (_LEAF, _refuser(e.reason))
            self._user[t] = handler
        return handler

    def _classify(self, t: type) -> _Handler:
        mro = _mro(t)
        if type in mro:  # the value is itself a class
            return _LEAF, _e_class
        if enum.Enum in mro:
            return _LEAF, functools.partial(_e_enum, _class_ref(t))
        if BaseException in mro:
            if Exception not in mro:
                return _LEAF, _refuser(_CONTROL_FLOW_REASON)
            ref = _class_ref(t)
            return _POST, lambda v: self._e_exc(v, ref)
        if _has_dataclass_fields(t):
            _class_ref(t)
            dc_spec = _dataclass_spec(t)
            return _PRE, lambda v: self._e_dataclass(v, dc_spec)
        if BaseModel in mro:
            _class_ref(t)
            model_spec = _model_spec(t)
            return _PRE, lambda v: self._e_model(v, model_spec)
        if _namedtuple_fields(t) is not None:
            ref = _class_ref(t)
            return _POST, lambda v: self._e_ntuple(v, ref)
        return _LEAF, _refuser(_refusal_reason(t))

    # -- container handlers: generators yielding (child, step kind, step data) --------------

    def _e_items(self, items: Any, kind: int) -> Generator[_Child, JSON, list[JSON]]:
        out: list[JSON] = []
        for i, x in enumerate(items):
            b = _bare(x)
            out.append(b if b is not _MISS else (yield (x, kind, i if kind == _IDX else x)))
        return out

    def _e_list(self, v: list[Any]) -> _EncGen:
        return {"$t": "list", "v": (yield from self._e_items(v, _IDX))}

    def _e_tuple(self, v: tuple[Any, ...]) -> _EncGen:
        return {"$t": "tuple", "v": (yield from self._e_items(v, _IDX))}

    def _e_ntuple(self, v: tuple[Any, ...], ref: str) -> _EncGen:
        if getattr(v, "__dict__", None):
            raise _Refuse("this named tuple has instance attributes; they cannot be saved")
        return {"$t": "ntuple", "cls": ref, "v": (yield from self._e_items(v, _IDX))}

    def _e_set(self, tag: str, v: set[Any] | frozenset[Any]) -> _EncGen:
        node: _Node = {"$t": tag, "v": (yield from self._e_items(v, _ITEM))}
        size = table_size(v)
        if size is not None:
            node["m"] = size
        return node

    def _e_deque(self, v: collections.deque[Any]) -> _EncGen:
        node: _Node = {"$t": "deque", "v": (yield from self._e_items(v, _IDX))}
        if v.maxlen is not None:
            node["m"] = v.maxlen
        return node

    def _e_pairs(self, v: Mapping[Any, Any]) -> Generator[_Child, JSON, list[JSON]]:
        out: list[JSON] = []
        for k, x in v.items():
            b = _bare(k)
            out.append(b if b is not _MISS else (yield (k, _KEY, k)))
            b = _bare(x)
            out.append(b if b is not _MISS else (yield (x, _VAL, k)))
        return out

    def _e_map(self, tag: str, v: Mapping[Any, Any]) -> _EncGen:
        return {"$t": tag, "v": (yield from self._e_pairs(v))}

    def _e_defaultdict(self, v: collections.defaultdict[Any, Any]) -> _EncGen:
        factory = v.default_factory
        name = next((n for n, f in _FACTORIES.items() if f is factory), None)
        if factory is not None and name is None:
            raise _Refuse(
                f"a defaultdict with default_factory {_short_repr(factory)} cannot be saved; "
                f"use one of {', '.join(_FACTORIES)} or a plain dict"
            )
        return {"$t": "defaultdict", "f": name, "v": (yield from self._e_pairs(v))}

    def _native(self, root: object) -> bool:
        """Whether the codec itself can save `root` and everything in it (pydantic models
        count: each saves its own fields so)."""
        todo: list[Any] = [root]
        seen: set[int] = set()
        while todo:
            x = todo.pop()
            t: Any = type(x)
            if t in _NATIVE_LEAVES or id(x) in seen:
                continue
            seen.add(id(x))
            kind, fn = self._handlers.get(t) or self._user_handler(t)
            if t in _NATIVE_ITEMS:
                todo.extend(x)
            elif t in _NATIVE_MAPS:
                todo.extend(x.keys())
                todo.extend(x.values())
            elif kind == _LEAF and t not in self._handlers and fn is not _e_class:
                if not isinstance(fn, functools.partial):  # an enum's is; a refusal's is not
                    return False
            elif kind == _POST and BaseException in _mro(t):
                todo.extend(x.args)
            elif kind == _PRE and t not in self._handlers and BaseModel not in _mro(t):
                todo.extend(getattr(x, "__dict__", {}).values())  # a dataclass
                todo.extend(getattr(x, n, None) for n in _dataclass_spec(t).names)
            elif kind == _POST and t not in self._handlers:
                todo.extend(cast(tuple[Any, ...], x))  # a named tuple
        return True

    def _e_attrs(
        self, attrs: Mapping[Any, Any], name_ok: Callable[[object], bool]
    ) -> Generator[_Child, JSON, list[JSON]]:
        out: list[JSON] = []
        for name, x in attrs.items():
            if not name_ok(name):
                raise _Refuse(f"its attribute {_short_repr(name)} has a name that cannot be saved")
            out.append(name)
            b = _bare(x)
            out.append(b if b is not _MISS else (yield (x, _ATTR, name)))
        return out

    def _e_iter(self, v: Any) -> _EncGen:
        reduced = v.__reduce__()
        node: _Node = {"$t": "iter", "k": type(v).__name__}
        # (iter, (seq,), index), or (iter, (empty,)) once exhausted. An iterator over an
        # empty range is written as exhausted too: its normalised range could give the other
        # range-iterator type back (an empty range(0, -2**64) gives a longrange_iterator).
        # One that has just yielded its last item keeps its index: a resumed `for` loop
        # steps it back by one to fetch that item again.
        if len(reduced) == 3 and not (type(v) in _RANGE_ITERS and not reduced[1][0]):
            seq = reduced[1][0]
            b = _bare(seq)
            node["v"] = b if b is not _MISS else (yield (seq, _RAW, ".<iterated sequence>"))
            node["i"] = _e_int(reduced[2])
        return node

    def _e_citer(self, v: Any) -> _EncGen:
        if isinstance(v, RaisingIterator):
            return {"$t": "citer", "k": "set", "broken": v.message}
        kind = "set" if isinstance(v, SetResume) else CONTAINER_ITERATORS[type(v)]
        node: _Node = {"$t": "citer", "k": kind}
        container = v.container if isinstance(v, SetResume) else iterated_container(v)
        if container is None:
            return node  # exhausted
        try:
            left = v.remaining() if isinstance(v, SetResume) else v.__reduce__()[1][0]
            if isinstance(v, SetResume) and len(container) != v.size:
                raise RuntimeError("Set changed size during iteration")
        except RuntimeError as e:  # what its next `next` raises
            node["broken"] = str(e)
            return node
        b = _bare(container)
        node["c"] = b if b is not _MISS else (yield (container, _RAW, ".<iterated container>"))
        if kind != "set":
            node["n"] = _e_int(len(left))
            return node
        node["r"] = yield (list(left), _RAW, ".<items left to iterate>")
        node["s"] = len(container)
        return node

    def _e_enumerate(self, v: enumerate[Any]) -> _EncGen:
        inner, count = cast(tuple[Any, ...], v.__reduce__())[1]
        node: _Node = {"$t": "enumerate", "n": _e_int(count)}
        b = _bare(inner)
        node["it"] = b if b is not _MISS else (yield (inner, _RAW, ".<enumerated iterator>"))
        return node

    def _e_zip(self, v: zip[Any]) -> _EncGen:
        reduced = cast(tuple[Any, ...], v.__reduce__())
        its: list[JSON] = []
        for i, inner in enumerate(reduced[1]):
            b = _bare(inner)
            its.append(b if b is not _MISS else (yield (inner, _RAW, f".<zipped iterator {i}>")))
        node: _Node = {"$t": "zip", "its": its}
        if len(reduced) > 2 and reduced[2]:
            node["strict"] = True
        return node

    def _e_exc(self, v: BaseException, ref: str) -> _EncGen:
        args: list[JSON] = []
        for i, a in enumerate(v.args):
            b = _bare(a)
            args.append(b if b is not _MISS else (yield (a, _RAW, f".args[{i}]")))
        node: _Node = {"$t": "exc", "cls": ref, "args": args}
        if v.__dict__:
            node["attrs"] = yield from self._e_attrs(v.__dict__, _exc_attr)
        if id(v) in self._ids:  # a nested occurrence (a cycle through args) came first
            return node
        # The chain is set after the exception is built: define it now, so that a chain that
        # leads back to it (or to any exception met before) is a reference.
        node["$id"] = self._define(v)
        for key, linked in (("cause", v.__cause__), ("context", v.__context__)):
            if linked is not None and self._chainable(linked):
                node[key] = yield (linked, _RAW, f".__{key}__")
        if v.__suppress_context__:
            node["suppress"] = True
        return node

    def _chainable(self, linked: BaseException) -> bool:
        """Whether a chained exception's class can be saved (else the link is left out, as
        a traceback is: the exception itself stays saveable)."""
        return self._user_handler(type(linked))[0] == _POST

    def _e_fields(self, v: object, names: tuple[str, ...]) -> Generator[_Child, JSON, _Node]:
        out: _Node = {}
        for name in names:
            x = getattr(v, name, _MISS)
            if x is not _MISS:  # init=False fields may be unset
                b = _bare(x)
                out[name] = b if b is not _MISS else (yield (x, _ATTR, name))
        return out

    def _e_dataclass(self, v: object, spec: _DataclassSpec) -> _EncGen:
        node: _Node = {"$t": "dataclass", "cls": spec.ref}
        node["v"] = yield from self._e_fields(v, spec.names)
        extra = {k: x for k, x in getattr(v, "__dict__", {}).items() if k not in spec.names}
        if extra:
            node["attrs"] = yield from self._e_attrs(extra, _ident_attr)
        return node

    def _e_model(self, v: BaseModel, spec: _ModelSpec) -> _EncGen:
        node: _Node = {"$t": "model", "cls": spec.ref}
        fields: _Node = {}
        dumped: list[JSON] = []
        for name in spec.names:
            x = getattr(v, name, _MISS)
            if x is _MISS:
                continue
            if _bare(x) is _MISS and name not in spec.untyped and not self._native(x):
                # A value only the model knows how to save (an HttpUrl, a SecretStr, a type
                # of a library): its own serialisation, validated again when it is loaded.
                data = _model_field_data(v, name, x)
                if data is not _MISS:  # else the codec says what it cannot save in it
                    x = data
                    dumped.append(name)
            b = _bare(x)
            fields[name] = b if b is not _MISS else (yield (x, _ATTR, name))
        node["v"] = fields
        if dumped:
            node["json"] = dumped
        if v.__pydantic_extra__:
            node["extra"] = yield from self._e_attrs(v.__pydantic_extra__, _plain_str)
        if v.__pydantic_private__:
            node["private"] = yield from self._e_attrs(v.__pydantic_private__, _ident_attr)
        fields_set = sorted(v.__pydantic_fields_set__)
        if not all(_plain_str(name) for name in fields_set):
            raise _Refuse("its model_fields_set holds a name that cannot be saved")
        names: list[JSON] = list(fields_set)
        node["set"] = names
        return node


def _e_enum(ref: str, v: enum.Enum) -> JSON:
    name = v._name_
    if type(v).__members__.get(name) is v:
        return {"$t": "enum", "cls": ref, "name": name}
    if isinstance(v, enum.Flag) and type(v._value_) is int:
        return {"$t": "enum", "cls": ref, "flag": _e_int(v._value_)}
    raise _Refuse(f"enum value {v!r} is not a member of {type(v).__qualname__}")


def _e_class(v: type) -> JSON:
    ref = _ref_name(v)
    if ref not in _CLASS_REFERENCES:
        raise _Refuse(_refusal_reason(type(v)))
    _class_ref(v)  # it must resolve back to itself
    return {"$t": "class", "cls": ref}


def _refuser(reason: str) -> Callable[[object], JSON]:
    def refuse(v: object) -> JSON:
        raise _Refuse(reason)

    return refuse


def _cause(e: Exception) -> Exception | None:
    return None if isinstance(e, _Refuse) else e
