"""Tagged-JSON value codec: a graph of Python values to a JSON tree and back, exactly.

Format
------
A value encodes to a *codec value*: a bare JSON scalar when that is unambiguous, otherwise a
*node*, a JSON object with a ``"$t"`` tag. JSON arrays never appear in value position, and JSON
object keys never carry user data or meaning by their order (stores such as PostgreSQL
``jsonb`` reorder keys): user dict keys live in flat ``[k0, v0, k1, v1, ...]`` lists, and the
decoder reads the fields of a node by name, in a fixed order.

Bare: ``None``, ``bool``, ``int`` in the signed 64-bit range, finite ``float`` other than
``-0.0``, ``str`` without lone surrogates. Tags (``v`` is the payload; ``?`` marks optional):

==============  ==========================================================================
``int``         ``{"v": "-1f"}`` (hex; any size, no int-to-str digit limit)
``float``       ``{"v": "nan" | "-nan" | "inf" | "-inf" | "-0.0"}``
``str``         ``{"v": base64(utf-8 with surrogatepass)}`` (strings with lone surrogates)
``bytes``       ``{"v": base64}``; ``bytearray`` the same plus ``$id``
``list``        ``{"v": [items]}``; ``tuple``, ``set``, ``frozenset`` the same
``deque``       ``{"v": [items], "m"?: maxlen}``
``dict``        ``{"v": [k0, v0, ...]}``; also ``odict`` (OrderedDict), ``counter``,
                ``defaultdict`` (plus ``"f": "list" | ... | null``, the default factory)
``range``       ``{"v": [start, stop, step]}``
``datetime``    ``{"v": naive isoformat, "tz"?: tz node, "fold"?: 1}``; ``time`` the same
``date``        ``{"v": isoformat}``; ``timedelta`` ``{"v": [days, seconds, microseconds]}``
``timezone``    ``{"v": [days, seconds, microseconds], "name"?: str}`` (datetime.timezone)
``zoneinfo``    ``{"v": key}``
``decimal``     ``{"v": str(d)}``; ``uuid`` ``{"v": str(u)}``
``enum``        ``{"cls": "mod:Qual", "name": member}`` or ``"flag": int`` (composite Flag)
``dataclass``   ``{"cls": ..., "v": {field: value}, "attrs"?: [name, value, ...]}``
``model``       ``{"cls": ..., "v": {field: value}, "extra"?: [...], "private"?: [...],
                "set": [names in model_fields_set]}``
``exc``         ``{"cls": ..., "args": [values], "attrs"?: [name, value, ...]}``
``iter``        ``{"k": "list_iterator" | ..., "v"?: sequence, "i"?: index}`` (no ``v``
                when the iterator released its exhausted sequence or iterates an empty range)
``enumerate``   ``{"it": iterator, "n": next count}``; ``zip`` ``{"its": [iterators],
                "strict"?: true}``
``citer``       a dict or set iterator: ``{"k": "keys" | "values" | "items" | "set",
                "c"?: the dict or set, "n"?: items left (dicts: always its last ones),
                "r"?: the items left (sets, whose order a rebuilt set may not keep),
                "s"?: the set's size, "broken"?: message}`` (no ``c`` once exhausted;
                ``broken`` when the container changed size: the next ``next`` raises)
``deep``        ``{"v": value, "d": [nodes]}``: only at the root of one ``encode`` result
==============  ==========================================================================

Identity
--------
Every object with identity (all containers, bytearray, dataclass and model instances,
exceptions, iterators) gets an integer ``"$id"``; later occurrences are ``{"$ref": n}``. An
`Encoder` numbers objects across all its `Encoder.encode` calls and pins them, so a `Decoder`
fed the results in the same order rebuilds one object per id, shared across variables and
frames. The decoder defines ids in depth-first order, so every ``$ref`` follows its definition:

* *pre-order* kinds (list, dict, set, deque, ..., dataclass, model) are created empty, get
  their id, then are filled, so cycles through them close naturally. Dataclass and model
  instances are allocated first and initialised in place (``cls.__init__(obj, ...)`` /
  ``validate_python(..., self_instance=obj)``), which is what calling the class does.
* *post-order* kinds (tuple, frozenset, exception, iterator) are built from finished children
  and get their id afterwards. When a cycle leads back into one of them while it is being
  encoded (``t = ([],); t[0].append(t)``), the inner occurrence is encoded in full and defined
  first; the outer one is then emitted with ``"$same": n`` and decodes to that same object.
  A cycle that passes *only* through post-order kinds cannot be rebuilt and is refused.

Rebuilding user types
---------------------
* dataclass: ``__init__`` with the ``init=True`` fields (so ``__post_init__`` runs), then the
  ``init=False`` fields and other instance attributes by ``setattr`` (``object.__setattr__``
  when frozen); a dataclass with an ``InitVar`` without default cannot be saved.
* model: validated with ``by_name=True, by_alias=False`` (so aliases do not matter), then the
  exact saved objects are put back in ``__dict__``, ``__pydantic_extra__``,
  ``__pydantic_private__`` and ``__pydantic_fields_set__``: validation copies list/dict
  fields, which would cut them off from other variables sharing them.
* exception: ``cls(*args)``, then ``args`` and the instance ``__dict__`` (``__notes__``
  included) are restored; when a Python ``__init__`` rejects the saved args (it took other
  parameters than it passed on), ``cls.__new__(cls, *args)`` allocates it instead. The
  traceback, ``__cause__`` and ``__context__`` are not kept.

Depth
-----
Encoding and decoding are iterative (handler generators on an explicit stack): nesting depth
is limited by memory only. The *JSON* depth is bounded: a container nested `_INLINE_DEPTH`
levels below the root of its subtree is moved out of line into the root ``deep`` node and
referenced by ``{"$out": k}``, decoded where it is referenced. So no output is deeper than
`MAX_JSON_DEPTH`, well inside the 200-level limit of ``pydantic_core.from_json``.

Security
--------
Decoding never imports a module, never unpickles, and only calls code the data names in one
way: classes named ``"module:qualname"`` are looked up in ``sys.modules`` (the module must
already be imported) by walking namespaces (``__dict__``, no ``getattr``, so no module
``__getattr__`` runs), and must be of the kind the tag allows (an Enum, a dataclass, a pydantic
model, an exception class) before their constructor or validator is called. Anything else is a
`DecodeError` and nothing is called. ``defaultdict`` factories come from a fixed allowlist.
``zoneinfo`` keys are checked against a strict pattern before ``ZoneInfo(key)`` reads the
time-zone database (on a system without one, that loads data files from the ``tzdata``
package, as any ``ZoneInfo`` call does).

Rejected designs
----------------
* pickle: decoding executes arbitrary code named by the data, and the bytes are opaque.
* pydantic with ``Any`` fields (``TypeAdapter(Any)``): serialises by duck type and loses the
  exact types on the way back (tuples become lists, sets become lists, dataclasses become
  dicts), and has no notion of shared identity or cycles.
* tagging only shared objects (reference-count pre-pass): a later `encode` call may refer to
  an object an earlier call already emitted bare; every identity-bearing object gets an id.
"""

from __future__ import annotations

import _thread
import base64
import binascii
import collections
import dataclasses
import datetime as _dt
import decimal
import enum
import functools
import io
import math
import re
import reprlib
import sys
import types
import uuid
import zoneinfo
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import Any, Final, Literal, TypeAlias, TypeGuard, cast

from pydantic import BaseModel

from ..._iterators import (
    CONTAINER_ITERATORS,
    RaisingIterator,
    SetResume,
    dict_iterator_at,
    iterated_container,
)

__all__ = [
    "JSON",
    "MAX_JSON_DEPTH",
    "DecodeError",
    "Decoder",
    "Encoder",
    "UnencodableValue",
    "allow_class_reference",
]

# "module:qualname" of the classes that may be saved as values (by reference): the classes
# that define durable methods, so that a classmethod's `cls` can be live at a pause. Any
# other class object is refused: a saved class could be called by the code that reads it.
_CLASS_REFERENCES: set[str] = set()


def allow_class_reference(ref: str) -> None:
    """Let the class named `ref` ("module:qualname") be saved as a value."""
    _CLASS_REFERENCES.add(ref)


JSON: TypeAlias = bool | int | float | str | list["JSON"] | dict[str, "JSON"] | None
_Node: TypeAlias = dict[str, JSON]


class UnencodableValue(Exception):
    """Internal: raised by `Encoder.encode`; the runtime turns it into a user-facing error."""

    path: str
    type_name: str
    reason: str

    def __init__(self, path: str, type_name: str, reason: str) -> None:
        super().__init__(f"{path}: a value of type {type_name} cannot be saved: {reason}")
        self.path = path
        self.type_name = type_name
        self.reason = reason


class DecodeError(Exception):
    """Internal: raised by `Decoder.decode` for malformed or hostile data."""


# A container this many levels below the root of its subtree is moved out of line.
_INLINE_DEPTH: Final = 32
# Per container level: its node and the array/object holding it (2); leaves nest at most 3
# (datetime > timezone > tagged name); the root ``deep`` wrapper adds 2.
MAX_JSON_DEPTH: Final = 2 * _INLINE_DEPTH + 5

_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**63 - 1
_SURROGATE: Final = re.compile("[\\ud800-\\udfff]")
_HEX_INT: Final = re.compile("-?[0-9a-f]+")
_ZONE_KEY: Final = re.compile("[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")
_MODULE_NAME: Final = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", re.ASCII)

_SPECIAL_FLOATS: Final[dict[str, float]] = {
    "nan": math.nan,
    "-nan": -math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "-0.0": -0.0,
}
_FACTORIES: Final[dict[str, Callable[[], object]]] = {
    "list": list,
    "dict": dict,
    "set": set,
    "int": int,
    "str": str,
    "float": float,
    "tuple": tuple,
}
# Exception attributes stored in __dict__ under a dunder name by Python itself.
_EXC_DUNDERS: Final = frozenset({"__notes__"})

_JSON_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


class _Sentinel(enum.Enum):
    MISS = enum.auto()
    PUSHED = enum.auto()


_MISS: Final = _Sentinel.MISS
_PUSHED: Final = _Sentinel.PUSHED


class _Refuse(Exception):
    """A value (or its class) cannot be encoded; carries the human reason."""

    def __init__(self, reason: str, type_name: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.type_name = type_name


# ---------------------------------------------------------------------------------------------
# Shared helpers: names, class lookup, per-class specs


def _type_name(t: type) -> str:
    module = getattr(t, "__module__", None)
    qualname = getattr(t, "__qualname__", None) or t.__name__
    return qualname if module in (None, "builtins") else f"{module}.{qualname}"


_TYPE_DICT: Final[Any] = type.__dict__["__dict__"]
_TYPE_MRO: Final[Any] = type.__dict__["__mro__"]
_MODULE_DICT: Final[Any] = vars(types.ModuleType)["__dict__"]


def _mro(cls: type) -> tuple[type, ...]:
    """`cls.__mro__` without running a metaclass `__getattribute__`."""
    mro: tuple[type, ...] = _TYPE_MRO.__get__(cls, type)
    return mro


def _is_class(obj: object) -> TypeGuard[type]:
    """`isinstance(obj, type)` without consulting a (possibly hostile) `__class__` property."""
    return issubclass(type(obj), type)


def _lookup(module: str, qualname: str) -> object:
    """The object `module:qualname` names, or None; reads namespaces only, runs no code."""
    obj: object = sys.modules.get(module)
    if not issubclass(type(obj), types.ModuleType):
        return None
    namespace: Mapping[str, object] = _MODULE_DICT.__get__(obj)
    *outer, last = qualname.split(".")
    for part in outer:
        obj = namespace.get(part)
        if not _is_class(obj):
            return None
        namespace = _TYPE_DICT.__get__(obj, type)
    return namespace.get(last)


def _class_ref(cls: type) -> str:
    """`module:qualname` of a class that can be found again by name; else `_Refuse`."""
    module, qualname = cls.__module__, cls.__qualname__
    if "<locals>" in qualname:
        raise _Refuse(
            f"class {qualname} is defined inside a function; only classes defined at module "
            "level can be found again on resume: move it to module level"
        )
    if "[" in qualname:
        raise _Refuse(
            f"parametrised generic class {qualname} cannot be found by name; "
            "use a concrete subclass defined at module level"
        )
    if _lookup(module, qualname) is not cls:
        raise _Refuse(
            f"{module}:{qualname} does not name this class (it was shadowed or redefined, or "
            "its module is not imported); only classes reachable by module and name can be saved"
        )
    return f"{module}:{qualname}"


def _has_dataclass_fields(cls: type) -> bool:
    return any("__dataclass_fields__" in _TYPE_DICT.__get__(base, type) for base in _mro(cls))


class _Unsupported(Exception):
    """A class is of an allowed kind but uses a feature the codec cannot rebuild."""


@dataclasses.dataclass(frozen=True, slots=True)
class _DataclassSpec:
    ref: str
    names: tuple[str, ...]  # fields in definition order
    init_names: frozenset[str]  # fields passed to __init__ (empty when there is no __init__)
    frozen: bool
    has_init: bool


@functools.cache
def _dataclass_spec(cls: type) -> _DataclassSpec:
    for base in _mro(cls)[1:-1]:
        if base.__module__ == "builtins":
            raise _Unsupported(
                f"dataclass {cls.__qualname__} subclasses the built-in {base.__name__}"
            )
    initvar = getattr(dataclasses, "_FIELD_INITVAR", None)
    for f in getattr(cls, "__dataclass_fields__", {}).values():
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if getattr(f, "_field_type", None) is initvar and no_default:
            raise _Unsupported(
                f"dataclass {cls.__qualname__} has InitVar {f.name!r} without a default; "
                "its value is not stored on the instance"
            )
    params = getattr(cls, "__dataclass_params__", None)
    has_init = bool(getattr(params, "init", True))
    fields = dataclasses.fields(cls)
    return _DataclassSpec(
        ref=f"{cls.__module__}:{cls.__qualname__}",
        names=tuple(f.name for f in fields),
        init_names=frozenset(f.name for f in fields if f.init) if has_init else frozenset(),
        frozen=bool(getattr(params, "frozen", False)),
        has_init=has_init,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _ModelSpec:
    ref: str
    names: tuple[str, ...]  # model_fields in definition order
    root: bool  # a RootModel: validated from the bare root value
    private: frozenset[str]


@functools.cache
def _model_spec(cls: type[BaseModel]) -> _ModelSpec:
    return _ModelSpec(
        ref=f"{cls.__module__}:{cls.__qualname__}",
        names=tuple(cls.model_fields),
        root=bool(getattr(cls, "__pydantic_root_model__", False)),
        private=frozenset(getattr(cls, "__private_attributes__", None) or ()),
    )


def _ident_attr(name: object, allowed_dunders: frozenset[str] = frozenset()) -> bool:
    """An instance attribute name that may be saved and set again: no dunders (`__class__`)."""
    if type(name) is not str or not name.isidentifier():
        return False
    return not (name.startswith("__") and name.endswith("__")) or name in allowed_dunders


def _exc_attr(name: object) -> bool:
    return _ident_attr(name, _EXC_DUNDERS)


def _plain_str(name: object) -> bool:
    return type(name) is str and _SURROGATE.search(name) is None


def _iterator_kinds() -> dict[str, tuple[type, type, object]]:
    """Iterator type name -> (sequence type, iterator type, a short sample sequence)."""
    samples: list[object] = [[], (), "", "\x80", range(0), range(2**64, 2**64)]
    kinds: dict[str, tuple[type, type, object]] = {}
    for sample in samples:
        it_type = type(iter(sample))  # type: ignore[call-overload]
        kinds.setdefault(it_type.__name__, (type(sample), it_type, sample))
    return kinds


_ITER_KINDS: Final = _iterator_kinds()
_ITER_TYPES: Final = {it_type: name for name, (_, it_type, _) in _ITER_KINDS.items()}
_CITER_TYPES: Final = (*CONTAINER_ITERATORS, SetResume, RaisingIterator)
_RANGE_ITERS: Final = frozenset(
    it_type for seq_type, it_type, _ in _ITER_KINDS.values() if seq_type is range
)


# ---------------------------------------------------------------------------------------------
# Encoding


def _bare(x: Any) -> Any:
    """`x` itself when it can be emitted as a bare JSON scalar, else `_MISS`."""
    t = type(x)
    if t is str:
        return x if x.isascii() or _SURROGATE.search(x) is None else _MISS
    if t is int:
        return x if _INT_MIN <= x <= _INT_MAX else _MISS
    if t is float:
        return x if math.isfinite(x) and (x or math.copysign(1.0, x) > 0) else _MISS
    if x is None or t is bool:
        return x
    return _MISS


def _e_identity(v: Any) -> JSON:
    result: JSON = v
    return result


def _e_int(v: int) -> JSON:
    return v if _INT_MIN <= v <= _INT_MAX else {"$t": "int", "v": format(v, "x")}


def _e_float(v: float) -> JSON:
    b: Any = _bare(v)
    if b is not _MISS:
        result: JSON = b
        return result
    if math.isnan(v):
        name = "-nan" if math.copysign(1.0, v) < 0 else "nan"
    elif math.isinf(v):
        name = "inf" if v > 0 else "-inf"
    else:
        name = "-0.0"
    return {"$t": "float", "v": name}


def _e_str(v: str) -> JSON:
    if v.isascii() or _SURROGATE.search(v) is None:
        return v
    raw = v.encode("utf-8", "surrogatepass")
    return {"$t": "str", "v": base64.b64encode(raw).decode("ascii")}


def _e_bytes(v: bytes) -> JSON:
    return {"$t": "bytes", "v": base64.b64encode(v).decode("ascii")}


def _e_bytearray(v: bytearray) -> _Node:
    return {"$t": "bytearray", "v": base64.b64encode(v).decode("ascii")}


def _e_range(v: range) -> JSON:
    return {"$t": "range", "v": [_e_int(v.start), _e_int(v.stop), _e_int(v.step)]}


def _e_timedelta_parts(v: _dt.timedelta) -> list[JSON]:
    return [v.days, v.seconds, v.microseconds]


def _e_timedelta(v: _dt.timedelta) -> JSON:
    return {"$t": "timedelta", "v": _e_timedelta_parts(v)}


def _e_tzinfo(tz: object) -> _Node:
    if type(tz) is _dt.timezone:
        init_args = tz.__getinitargs__()  # type: ignore[attr-defined]
        node: _Node = {"$t": "timezone", "v": _e_timedelta_parts(init_args[0])}
        if len(init_args) > 1:
            node["name"] = _e_str(init_args[1])
        return node
    if type(tz) is zoneinfo.ZoneInfo:
        if not isinstance(tz.key, str):
            raise _Refuse("a ZoneInfo loaded from a file (without a key) cannot be saved")
        return {"$t": "zoneinfo", "v": tz.key}
    raise _Refuse(
        f"time zone of type {_type_name(type(tz))} cannot be saved; "
        "use datetime.timezone or zoneinfo.ZoneInfo"
    )


def _e_clock(tag: str, iso: str, tz: object, fold: int) -> JSON:
    node: _Node = {"$t": tag, "v": iso}
    if tz is not None:
        node["tz"] = _e_tzinfo(tz)
    if fold:
        node["fold"] = 1
    return node


def _e_datetime(v: _dt.datetime) -> JSON:
    return _e_clock("datetime", v.replace(tzinfo=None).isoformat(), v.tzinfo, v.fold)


def _e_time(v: _dt.time) -> JSON:
    return _e_clock("time", v.replace(tzinfo=None).isoformat(), v.tzinfo, v.fold)


def _e_date(v: _dt.date) -> JSON:
    return {"$t": "date", "v": v.isoformat()}


def _e_decimal(v: decimal.Decimal) -> JSON:
    return {"$t": "decimal", "v": str(v)}


def _e_uuid(v: uuid.UUID) -> JSON:
    return {"$t": "uuid", "v": str(v)}


def _e_enum(ref: str, v: enum.Enum) -> JSON:
    name = v._name_
    if type(v).__members__.get(name) is v:
        return {"$t": "enum", "cls": ref, "name": name}
    if isinstance(v, enum.Flag) and type(v._value_) is int:
        return {"$t": "enum", "cls": ref, "flag": _e_int(v._value_)}
    raise _Refuse(f"enum value {v!r} is not a member of {type(v).__qualname__}")


_LEAF_ENCODERS: Final[dict[type, Callable[[Any], JSON]]] = {
    type(None): _e_identity,
    bool: _e_identity,
    int: _e_int,
    float: _e_float,
    str: _e_str,
    bytes: _e_bytes,
    range: _e_range,
    _dt.datetime: _e_datetime,
    _dt.date: _e_date,
    _dt.time: _e_time,
    _dt.timedelta: _e_timedelta,
    _dt.timezone: _e_tzinfo,
    zoneinfo.ZoneInfo: _e_tzinfo,
    decimal.Decimal: _e_decimal,
    uuid.UUID: _e_uuid,
}

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
_ARBITRARY_REASON: Final = (
    "instances of arbitrary classes cannot be saved; use a dataclass or a pydantic model"
)


def _refusal_reason(t: type) -> str:
    """Why values of type `t` (no handler, not an allowed user kind) cannot be saved."""
    if issubclass(t, type):
        return "classes cannot be saved; refer to the class by its name instead"
    if t in _FUNCTION_TYPES:
        return _FUNCTIONS_REASON
    special = _SPECIAL_REASONS.get(t)
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
    if issubclass(t, tuple) and hasattr(t, "_fields"):
        return "named tuples cannot be saved; use a frozen dataclass or a plain tuple"
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

_REPR: Final = reprlib.Repr()
_REPR.maxstring = 40
_REPR.maxother = 40
_REPR.maxlevel = 2


def _short_repr(x: object) -> str:
    try:
        return _REPR.repr(x)
    except Exception:
        return f"<{_type_name(type(x))}>"


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
        else:
            oid = id(frame.obj)
            if frame.prev is None:
                del self._active[oid]
            else:
                self._active[oid] = frame.prev
            done = self._ids.get(oid)
            if done is None:
                node["$id"] = self._define(frame.obj)
            else:  # a nested occurrence on a cycle was encoded and defined first
                node["$same"] = done
        if frame.out:
            self._outs.append(node)
            return {"$out": len(self._outs) - 1}
        return node

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

    def _e_set(self, tag: str, v: set[Any] | frozenset[Any]) -> _EncGen:
        return {"$t": tag, "v": (yield from self._e_items(v, _ITEM))}

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
        return node

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
        node["v"] = yield from self._e_fields(v, spec.names)
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


def _e_class(v: type) -> JSON:
    ref = f"{v.__module__}:{v.__qualname__}"
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


# ---------------------------------------------------------------------------------------------
# Decoding

_DecGen: TypeAlias = Generator[JSON, object, object]


def _tag_of(node: _Node) -> str:
    tag = node.get("$t")
    return tag if type(tag) is str else "?"


def _get(node: _Node, key: str, t: type) -> Any:
    """Field `key` of `node`, which must be of exact JSON type `t`."""
    value = node.get(key, _MISS)
    if type(value) is not t:
        raise DecodeError(
            f"{_tag_of(node)!r} node: field {key!r} must be a JSON {_JSON_NAMES[t]}, "
            f"got {_json_kind(value)}"
        )
    return value


_JSON_NAMES: Final[dict[type, str]] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
    type(None): "null",
}


def _json_kind(x: object) -> str:
    if x is _MISS:
        return "nothing"
    return _JSON_NAMES.get(type(x), f"a non-JSON {type(x).__name__}")


def _d_int(node: _Node) -> int:
    text = _get(node, "v", str)
    if _HEX_INT.fullmatch(text) is None:
        raise DecodeError(f"'int' node: {text[:40]!r} is not a hexadecimal integer")
    return int(text, 16)


def _int_value(x: JSON) -> int:
    """A bare or tagged integer inside a payload."""
    if type(x) is int:
        return x
    if type(x) is dict and x.get("$t") == "int":
        return _d_int(x)
    raise DecodeError(f"expected an integer, got {_json_kind(x)}")


def _d_float(node: _Node) -> float:
    value = _SPECIAL_FLOATS.get(_get(node, "v", str))
    if value is None:
        raise DecodeError(f"'float' node: unknown special float {node['v']!r}")
    return value


def _d_str(node: _Node) -> str:
    return _b64(node).decode("utf-8", "surrogatepass")


def _str_value(x: JSON) -> str:
    if type(x) is str:
        return x
    if type(x) is dict and x.get("$t") == "str":
        return _d_str(x)
    raise DecodeError(f"expected a string, got {_json_kind(x)}")


def _b64(node: _Node) -> bytes:
    try:
        return base64.b64decode(_get(node, "v", str), validate=True)
    except (binascii.Error, ValueError) as e:
        raise DecodeError(f"{_tag_of(node)!r} node: invalid base64 ({e})") from None


def _d_bytes(node: _Node) -> bytes:
    return _b64(node)


def _d_range(node: _Node) -> range:
    parts = _get(node, "v", list)
    if len(parts) != 3:
        raise DecodeError("'range' node: 'v' must be [start, stop, step]")
    start, stop, step = (_int_value(p) for p in parts)
    if step == 0:
        raise DecodeError("'range' node: step must not be zero")
    return range(start, stop, step)


def _timedelta(parts: Any) -> _dt.timedelta:
    if type(parts) is not list or len(parts) != 3 or any(type(p) is not int for p in parts):
        raise DecodeError("a timedelta must be [days, seconds, microseconds] integers")
    try:
        return _dt.timedelta(days=parts[0], seconds=parts[1], microseconds=parts[2])
    except OverflowError as e:
        raise DecodeError(f"timedelta out of range: {e}") from None


def _d_timedelta(node: _Node) -> _dt.timedelta:
    return _timedelta(node.get("v"))


def _d_timezone(node: _Node) -> _dt.timezone:
    offset = _timedelta(node.get("v"))
    try:
        if "name" in node:
            return _dt.timezone(offset, _str_value(node["name"]))
        return _dt.timezone(offset)
    except ValueError as e:
        raise DecodeError(f"'timezone' node: {e}") from None


def _d_zoneinfo(node: _Node) -> zoneinfo.ZoneInfo:
    key = _get(node, "v", str)
    if len(key) > 255 or _ZONE_KEY.fullmatch(key) is None:
        raise DecodeError(f"'zoneinfo' node: {key[:40]!r} is not a time-zone key")
    try:
        return zoneinfo.ZoneInfo(key)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError) as e:
        raise DecodeError(f"'zoneinfo' node: unknown time zone {key!r} ({e})") from None


def _tz_value(node: _Node) -> _dt.tzinfo | None:
    tz = node.get("tz")
    if tz is None:
        return None
    if type(tz) is dict and tz.get("$t") == "timezone":
        return _d_timezone(tz)
    if type(tz) is dict and tz.get("$t") == "zoneinfo":
        return _d_zoneinfo(tz)
    raise DecodeError(f"{_tag_of(node)!r} node: 'tz' must be a timezone or zoneinfo node")


def _fold(node: _Node) -> int:
    fold = node.get("fold", 0)
    if type(fold) is not int or fold not in (0, 1):
        raise DecodeError(f"{_tag_of(node)!r} node: 'fold' must be 0 or 1")
    return fold


def _d_datetime(node: _Node) -> _dt.datetime:
    try:
        naive = _dt.datetime.fromisoformat(_get(node, "v", str))
    except ValueError as e:
        raise DecodeError(f"'datetime' node: {e}") from None
    if naive.tzinfo is not None:
        raise DecodeError("'datetime' node: 'v' must not carry an offset (it goes in 'tz')")
    return naive.replace(tzinfo=_tz_value(node), fold=_fold(node))


def _d_time(node: _Node) -> _dt.time:
    try:
        naive = _dt.time.fromisoformat(_get(node, "v", str))
    except ValueError as e:
        raise DecodeError(f"'time' node: {e}") from None
    if naive.tzinfo is not None:
        raise DecodeError("'time' node: 'v' must not carry an offset (it goes in 'tz')")
    return naive.replace(tzinfo=_tz_value(node), fold=_fold(node))


def _d_date(node: _Node) -> _dt.date:
    try:
        return _dt.date.fromisoformat(_get(node, "v", str))
    except ValueError as e:
        raise DecodeError(f"'date' node: {e}") from None


def _d_decimal(node: _Node) -> decimal.Decimal:
    text = _get(node, "v", str)
    with decimal.localcontext() as ctx:
        ctx.traps[decimal.InvalidOperation] = True
        try:
            return decimal.Decimal(text)
        except decimal.InvalidOperation:
            raise DecodeError(f"'decimal' node: {text[:40]!r} is not a decimal") from None


def _d_uuid(node: _Node) -> uuid.UUID:
    text = _get(node, "v", str)
    try:
        if len(text) != 36:
            raise ValueError("wrong length")
        return uuid.UUID(text)
    except ValueError:
        raise DecodeError(f"'uuid' node: {text[:40]!r} is not a UUID") from None


_KIND_CHECKS: Final[dict[str, tuple[str, Callable[[type], bool]]]] = {
    "enum": ("an Enum", lambda c: enum.Enum in _mro(c)),
    "exc": ("an exception class", lambda c: BaseException in _mro(c)),
    "dataclass": ("a dataclass", _has_dataclass_fields),
    "model": ("a pydantic model", lambda c: BaseModel in _mro(c)),
    "class": (
        "a class with durable methods",
        lambda c: f"{c.__module__}:{c.__qualname__}" in _CLASS_REFERENCES,
    ),
}


def _resolve_class(ref: str, kind: str) -> type:
    """The class `ref` ("module:qualname") names, checked to be of `kind`; calls nothing."""
    module, sep, qualname = ref.partition(":")
    parts = qualname.split(".")
    if not sep or _MODULE_NAME.fullmatch(module) is None:
        raise DecodeError(f"malformed class reference {ref[:80]!r}")
    if not all(p.isidentifier() for p in parts):
        raise DecodeError(f"malformed class reference {ref[:80]!r}")
    if module not in sys.modules:
        raise DecodeError(
            f"class {ref} is in module {module!r}, which is not imported: import it before "
            "resuming (decoding never imports modules)"
        )
    cls = _lookup(module, qualname)
    what, check = _KIND_CHECKS[kind]
    if not _is_class(cls) or not check(cls):
        raise DecodeError(f"{ref} is not {what}; refusing to use it")
    return cls


def _check_hashable(value: object, where: str) -> None:
    try:
        hash(value)
    except TypeError:
        raise DecodeError(f"{where} of unhashable type {_type_name(type(value))}") from None


class _DFrame:
    __slots__ = ("gen", "node")

    def __init__(self, gen: _DecGen, node: _Node) -> None:
        self.gen = gen
        self.node = node


class Decoder:
    """Decodes codec JSON; ids defined by earlier `decode` calls stay visible to later ones.

    Invariant: an id maps to exactly one object, defined before any `$ref` to it is read.
    A failed `decode` call forgets the ids it defined.
    """

    def __init__(self) -> None:
        self._objs: dict[int, object] = {}
        self._tags: dict[int, str] = {}
        self._order: list[int] = []
        self._stack: list[_DFrame] = []
        self._outs: list[JSON] | None = None
        self._classes: dict[tuple[str, str], type] = {}
        leaves: dict[str, Callable[[_Node], object]] = {
            "int": _d_int,
            "float": _d_float,
            "str": _d_str,
            "bytes": _d_bytes,
            "bytearray": self._d_bytearray,
            "range": _d_range,
            "datetime": _d_datetime,
            "date": _d_date,
            "time": _d_time,
            "timedelta": _d_timedelta,
            "timezone": _d_timezone,
            "zoneinfo": _d_zoneinfo,
            "decimal": _d_decimal,
            "uuid": _d_uuid,
            "enum": self._d_enum,
            "class": self._d_class,
        }
        generators: dict[str, Callable[[_Node], _DecGen]] = {
            "list": self._d_list,
            "tuple": self._d_tuple,
            "set": self._d_set,
            "frozenset": self._d_frozenset,
            "deque": self._d_deque,
            "dict": functools.partial(self._d_map, dict),
            "odict": functools.partial(self._d_map, collections.OrderedDict),
            "counter": functools.partial(self._d_map, collections.Counter),
            "defaultdict": self._d_defaultdict,
            "iter": self._d_iter,
            "citer": self._d_citer,
            "enumerate": self._d_enumerate,
            "zip": self._d_zip,
            "exc": self._d_exc,
            "dataclass": self._d_dataclass,
            "model": self._d_model,
        }
        self._handlers: dict[str, tuple[bool, Callable[[_Node], Any]]] = {
            **{tag: (False, fn) for tag, fn in leaves.items()},
            **{tag: (True, fn) for tag, fn in generators.items()},
        }

    def decode(self, data: JSON) -> object:
        """Decode one value; raises `DecodeError` (only) for anything malformed."""
        mark = len(self._order)
        try:
            result = self._drive(self._open(data))
            self._close()
            return result
        except DecodeError as e:
            self._forget(mark)
            e.args = (f"{e}{self._where()}",)
            raise
        except Exception as e:
            self._forget(mark)
            raise DecodeError(f"malformed data ({type(e).__name__}: {e}){self._where()}") from e
        finally:
            self._stack.clear()
            self._outs = None

    def _open(self, data: JSON) -> JSON:
        if type(data) is dict and data.get("$t") == "deep":
            self._outs = list(_get(data, "d", list))
            if "v" not in data:
                raise DecodeError("'deep' node has no 'v'")
            return data["v"]
        return data

    def _close(self) -> None:
        if self._outs is not None and any(node is not None for node in self._outs):
            raise DecodeError("'deep' node has out-of-line nodes nothing refers to")

    def _forget(self, mark: int) -> None:
        for n in self._order[mark:]:
            del self._objs[n]
            del self._tags[n]
        del self._order[mark:]

    def _where(self) -> str:
        labels = []
        for frame in self._stack:
            label, ref, n = _tag_of(frame.node), frame.node.get("cls"), frame.node.get("$id")
            label += f" {ref}" if type(ref) is str else ""
            label += f" #{n}" if type(n) is int else ""
            labels.append(label)
        return f" (in {' > '.join(labels)})" if labels else ""

    def _drive(self, data: JSON) -> object:
        stack = self._stack
        out = self._start(data)
        while stack:
            try:
                child = stack[-1].gen.send(None if out is _PUSHED else out)
            except StopIteration as stop:
                stack.pop()
                out = stop.value
                continue
            out = self._start(child)
        return out

    def _start(self, x: JSON) -> object:
        """Decode `x` if it is a leaf, else push a frame for it and return `_PUSHED`."""
        if type(x) in _JSON_SCALARS:
            return x
        if type(x) is not dict:
            raise DecodeError(f"expected a JSON scalar or a tagged object, got {_json_kind(x)}")
        if "$ref" in x:
            return self._ref(x)
        if "$out" in x:
            x = self._take_out(x)
        tag = x.get("$t")
        handler = self._handlers.get(tag) if type(tag) is str else None
        if handler is None:
            raise DecodeError(f"unknown tag {_short_repr(tag)}")
        is_generator, fn = handler
        if not is_generator:
            return fn(x)
        self._stack.append(_DFrame(fn(x), x))
        return _PUSHED

    def _ref(self, node: _Node) -> object:
        n = node["$ref"]
        if type(n) is not int or len(node) != 1:
            raise DecodeError("a '$ref' node must be exactly {'$ref': <integer>}")
        obj = self._objs.get(n, _MISS)
        if obj is _MISS:
            raise DecodeError(f"'$ref' {n} refers to an object not defined before it")
        return obj

    def _take_out(self, node: _Node) -> _Node:
        k, outs = node["$out"], self._outs
        if outs is None or type(k) is not int or not 0 <= k < len(outs) or len(node) != 1:
            raise DecodeError(f"invalid '$out' reference {_short_repr(k)}")
        target = outs[k]
        if type(target) is not dict or "$ref" in target or "$out" in target:
            raise DecodeError(f"'$out' {k} is used twice or is not a tagged node")
        outs[k] = None
        return target

    def _define(self, node: _Node, obj: object, tag: str) -> None:
        n = node.get("$id")
        if type(n) is not int:
            raise DecodeError(f"{tag!r} node needs an integer '$id'")
        if n in self._objs:
            raise DecodeError(f"'$id' {n} is defined twice")
        self._objs[n] = obj
        self._tags[n] = tag
        self._order.append(n)

    def _same(self, node: _Node, tag: str) -> object:
        n = node["$same"]
        if type(n) is not int or "$id" in node or self._tags.get(n) != tag:
            raise DecodeError(f"'$same' {_short_repr(n)} does not name an earlier {tag!r}")
        return self._objs[n]

    def _class(self, node: _Node, kind: str) -> type:
        ref = _get(node, "cls", str)
        cls = self._classes.get((kind, ref))
        if cls is None:
            cls = self._classes[(kind, ref)] = _resolve_class(ref, kind)
        return cls

    # -- leaves that need the decoder ---------------------------------------------------------

    def _d_bytearray(self, node: _Node) -> bytearray:
        obj = bytearray(_b64(node))
        self._define(node, obj, "bytearray")
        return obj

    def _d_class(self, node: _Node) -> type:
        return self._class(node, "class")

    def _d_enum(self, node: _Node) -> enum.Enum:
        cls: Any = self._class(node, "enum")
        if "name" in node:
            member = cls.__members__.get(_get(node, "name", str))
        elif "flag" in node and issubclass(cls, enum.Flag):
            member = _call(cls, "enum", _int_value(node["flag"]))
        else:
            raise DecodeError("'enum' node needs 'name' (or 'flag' for a Flag)")
        if type(member) is not cls:
            raise DecodeError(f"{node['cls']} has no member {_short_repr(node.get('name'))}")
        result: enum.Enum = member
        return result

    # -- container handlers: generators yielding child JSON, receiving decoded objects ------

    def _items(self, node: _Node, key: str = "v") -> Generator[JSON, object, list[object]]:
        out: list[object] = []
        for x in _get(node, key, list):
            out.append(x if type(x) in _JSON_SCALARS else (yield x))
        return out

    def _d_list(self, node: _Node) -> _DecGen:
        obj: list[object] = []
        self._define(node, obj, "list")
        for x in _get(node, "v", list):
            obj.append(x if type(x) in _JSON_SCALARS else (yield x))
        return obj

    def _d_deque(self, node: _Node) -> _DecGen:
        maxlen = node.get("m")
        if maxlen is not None and (type(maxlen) is not int or maxlen < 0):
            raise DecodeError("'deque' node: 'm' must be a non-negative integer")
        obj: collections.deque[object] = collections.deque(maxlen=maxlen)
        self._define(node, obj, "deque")
        for x in _get(node, "v", list):
            obj.append(x if type(x) in _JSON_SCALARS else (yield x))
        return obj

    def _d_set(self, node: _Node) -> _DecGen:
        obj: set[object] = set()
        self._define(node, obj, "set")
        for x in _get(node, "v", list):
            item = x if type(x) in _JSON_SCALARS else (yield x)
            _check_hashable(item, "set item")
            obj.add(item)
        return obj

    def _d_tuple(self, node: _Node) -> _DecGen:
        items = yield from self._items(node)
        if "$same" in node:
            return self._same(node, "tuple")
        obj = tuple(items)
        self._define(node, obj, "tuple")
        return obj

    def _d_frozenset(self, node: _Node) -> _DecGen:
        items = yield from self._items(node)
        for item in items:
            _check_hashable(item, "frozenset item")
        if "$same" in node:
            return self._same(node, "frozenset")
        obj = frozenset(items)
        self._define(node, obj, "frozenset")
        return obj

    def _fill_map(self, node: _Node, obj: dict[object, object]) -> _DecGen:
        flat = _get(node, "v", list)
        if len(flat) % 2:
            raise DecodeError(f"{_tag_of(node)!r} node: 'v' must hold key/value pairs")
        for i in range(0, len(flat), 2):
            k, x = flat[i], flat[i + 1]
            key = k if type(k) in _JSON_SCALARS else (yield k)
            _check_hashable(key, "dict key")
            obj[key] = x if type(x) in _JSON_SCALARS else (yield x)
        return obj

    def _d_map(self, factory: Callable[[], Any], node: _Node) -> _DecGen:
        obj = factory()
        self._define(node, obj, _tag_of(node))
        return (yield from self._fill_map(node, obj))

    def _d_defaultdict(self, node: _Node) -> _DecGen:
        name = node.get("f")
        if name is not None and (type(name) is not str or name not in _FACTORIES):
            raise DecodeError(f"'defaultdict' node: factory {_short_repr(name)} is not allowed")
        obj: dict[object, object] = collections.defaultdict(
            None if name is None else _FACTORIES[name]
        )
        self._define(node, obj, "defaultdict")
        return (yield from self._fill_map(node, obj))

    def _d_iter(self, node: _Node) -> _DecGen:
        kind = _ITER_KINDS.get(_get(node, "k", str))
        if kind is None:
            raise DecodeError(f"'iter' node: unknown iterator kind {_short_repr(node['k'])}")
        seq_type, it_type, sample = kind
        seq: object = sample
        if "v" in node:
            x = node["v"]
            seq = x if type(x) in _JSON_SCALARS else (yield x)
            if type(seq) is not seq_type:
                raise DecodeError(f"'iter' node: a {it_type.__name__} needs a {seq_type.__name__}")
        if "$same" in node:
            return self._same(node, "iter")
        it: Any = iter(seq)  # type: ignore[call-overload]
        if type(it) is not it_type and type(seq) is range and seq:
            it = iter(_min_stop(seq))
        if "v" in node:
            it.__setstate__(_int_value(node.get("i", 0)))
        else:  # exhausted: run the (at most one item long) sample dry
            for _ in it:
                pass
        if type(it) is not it_type:
            raise DecodeError(f"'iter' node: the sequence does not give a {it_type.__name__}")
        self._define(node, it, "iter")
        return it

    def _d_citer(self, node: _Node) -> _DecGen:
        kind = _get(node, "k", str)
        if kind not in ("keys", "values", "items", "set"):
            raise DecodeError(f"'citer' node: unknown iterator kind {_short_repr(kind)}")
        if "$same" in node:
            return self._same(node, "citer")
        it: Any
        if "broken" in node:
            it = RaisingIterator(_get(node, "broken", str))
        elif "c" not in node:  # exhausted
            it = iter(set()) if kind == "set" else dict_iterator_at({}, kind, 0)
        else:
            x = node["c"]
            container = x if type(x) in _JSON_SCALARS else (yield x)
            it = yield from self._citer_over(node, kind, container)
        self._define(node, it, "citer")
        return it

    def _d_enumerate(self, node: _Node) -> _DecGen:
        if "$same" in node:
            return self._same(node, "enumerate")
        inner = yield node.get("it")
        if not isinstance(inner, Iterator):
            raise DecodeError("'enumerate' node: 'it' must be an iterator")
        it = enumerate(inner, _int_value(node.get("n", 0)))
        self._define(node, it, "enumerate")
        return it

    def _d_zip(self, node: _Node) -> _DecGen:
        if "$same" in node:
            return self._same(node, "zip")
        its = node.get("its")
        if type(its) is not list:
            raise DecodeError("'zip' node: 'its' must be a list")
        inners = []
        for x in its:
            inner = yield x
            if not isinstance(inner, Iterator):
                raise DecodeError("'zip' node: every zipped value must be an iterator")
            inners.append(inner)
        it = zip(*inners, strict=node.get("strict") is True)
        self._define(node, it, "zip")
        return it

    def _citer_over(self, node: _Node, kind: str, container: object) -> _DecGen:
        if kind == "set":
            if not isinstance(container, set | frozenset) or type(node.get("r")) is not dict:
                raise DecodeError("'citer' node: a set iterator needs a set and its items")
            items = yield node["r"]
            size = _int_value(node.get("s"))
            if type(items) is not list or size != len(container):
                raise DecodeError("'citer' node: a set iterator needs its items and size")
            return SetResume(container, items, size)
        n = _int_value(node.get("n"))
        if not isinstance(container, dict) or not 0 <= n <= len(container):
            raise DecodeError("'citer' node: a dict iterator needs a dict and a count in it")
        return dict_iterator_at(container, kind, n)

    def _d_attrs(self, node: _Node, key: str, name_ok: Callable[[object], bool]) -> Any:
        """Generator: the flat [name, value, ...] list `key` as a dict (empty when absent)."""
        flat = node.get(key, [])
        if type(flat) is not list or len(flat) % 2:
            raise DecodeError(f"{_tag_of(node)!r} node: {key!r} must hold name/value pairs")
        out: dict[str, object] = {}
        for i in range(0, len(flat), 2):
            name, x = flat[i], flat[i + 1]
            if not name_ok(name):
                raise DecodeError(f"{_tag_of(node)!r} node: bad attribute name {_short_repr(name)}")
            assert isinstance(name, str)
            out[name] = x if type(x) in _JSON_SCALARS else (yield x)
        return out

    def _d_fields(self, node: _Node, names: tuple[str, ...]) -> Any:
        """Generator: the saved fields of a dataclass/model node, in class field order."""
        raw = _get(node, "v", dict)
        unknown = raw.keys() - set(names)
        if unknown:
            raise DecodeError(
                f"{node['cls']} has no field(s) {sorted(unknown)!r}; the class changed since "
                "the value was saved"
            )
        out: dict[str, object] = {}
        for name in names:
            if name in raw:
                x = raw[name]
                out[name] = x if type(x) in _JSON_SCALARS else (yield x)
        return out

    def _d_exc(self, node: _Node) -> _DecGen:
        cls: Any = self._class(node, "exc")
        args = yield from self._items(node, "args")
        attrs = yield from self._d_attrs(node, "attrs", _exc_attr)
        if "$same" in node:
            return self._same(node, "exc")
        obj = _build_exception(cls, node["cls"], args)
        if type(obj) is not cls:
            raise DecodeError(f"{node['cls']}(*args) built a {_type_name(type(obj))}")
        obj.args = tuple(args)
        for name, value in attrs.items():
            setattr(obj, name, value)
        self._define(node, obj, "exc")
        return obj

    def _d_dataclass(self, node: _Node) -> _DecGen:
        cls: Any = self._class(node, "dataclass")
        try:
            spec = _dataclass_spec(cls)
        except _Unsupported as e:
            raise DecodeError(str(e)) from None
        obj = _call(object.__new__, node["cls"], cls)
        self._define(node, obj, "dataclass")
        values = yield from self._d_fields(node, spec.names)
        attrs = yield from self._d_attrs(node, "attrs", _ident_attr)
        if spec.has_init:
            init_kw = {k: values.pop(k) for k in spec.init_names if k in values}
            _call(cls.__init__, node["cls"], obj, **init_kw)
        set_attr = object.__setattr__ if spec.frozen else setattr
        for name, value in (values | attrs).items():
            set_attr(obj, name, value)
        return obj

    def _d_model(self, node: _Node) -> _DecGen:
        cls: Any = self._class(node, "model")
        spec = _model_spec(cls)
        obj = _call(object.__new__, node["cls"], cls)
        self._define(node, obj, "model")
        # Saved fields the class no longer has go to its own validation only when it has a
        # before-validator to adapt old data with; otherwise they are refused, never dropped.
        raw = _get(node, "v", dict)
        gone = tuple(k for k in raw if k not in spec.names)
        if gone and not _adapts_old_data(cls):
            raise DecodeError(
                f"{node['cls']} has no field(s) {sorted(gone)!r}; the class changed since the "
                "value was saved: give it a model_validator(mode='before') that adapts the old "
                "fields, or migrate the value"
            )
        values = yield from self._d_fields(node, (*spec.names, *gone))
        extra = yield from self._d_attrs(node, "extra", _plain_str)
        private = yield from self._d_attrs(
            node, "private", lambda n: type(n) is str and n in spec.private
        )
        fields_set = _get(node, "set", list)
        if not all(type(name) is str for name in fields_set):
            raise DecodeError("'model' node: 'set' must hold field names")
        data = values.get("root") if spec.root else values | extra
        try:
            cls.__pydantic_validator__.validate_python(
                data, self_instance=obj, by_alias=False, by_name=True
            )
        except Exception as e:
            raise DecodeError(f"the saved fields of {spec.ref} do not validate: {e}") from e
        _restore_model_state(obj, values, extra, private, fields_set)
        return obj


def _restore_model_state(
    obj: Any,
    values: dict[str, object],
    extra: dict[str, object],
    private: dict[str, object],
    fields_set: list[str],
) -> None:
    """Put back the exact saved objects where validation only copied them (list fields).

    A field that validation converted (another type, another value: the class changed since
    the value was saved) keeps the validated value.
    """
    for name, saved in values.items():
        if name in obj.__dict__ and _same_value(obj.__dict__[name], saved):
            obj.__dict__[name] = saved
    if extra:
        if obj.__pydantic_extra__ is None:
            raise DecodeError(f"{type(obj).__qualname__} no longer allows extra fields")
        object.__setattr__(obj, "__pydantic_extra__", extra)
    if private:
        if obj.__pydantic_private__ is None:
            object.__setattr__(obj, "__pydantic_private__", {})
        obj.__pydantic_private__.update(private)
    object.__setattr__(obj, "__pydantic_fields_set__", set(fields_set))


def _adapts_old_data(cls: Any) -> bool:
    """Whether a model class has a before or wrap model validator."""
    validators = cls.__pydantic_decorators__.model_validators.values()
    return any(v.info.mode in ("before", "wrap") for v in validators)


def _same_value(validated: object, saved: object) -> bool:
    if type(validated) is not type(saved):
        return False
    try:
        return bool(validated == saved)
    except Exception:  # an odd __eq__: keep what validation built
        return False


def _min_stop(r: range) -> range:
    """The same items as non-empty `r`, with the stop closest to its last item.

    A range iterator pickles its range with stop = start + len * step, but whether `iter()`
    picks range_iterator or longrange_iterator depends on the stop (a C-long overflow check).
    The normalised stop is at least the original one, so it gives a longrange_iterator back
    whenever the original was one; the smallest stop is at most the original one, so it gives
    a range_iterator back whenever the original was one.
    """
    return range(r.start, r[-1] + (1 if r.step > 0 else -1), r.step)


def _build_exception(cls: Any, ref: object, args: list[object]) -> Any:
    """`cls(*args)`; when `__init__` takes other parameters than the args it stores (a common
    pattern: ``def __init__(self, code): super().__init__(f"failed: {code}")``), allocate with
    `BaseException.__new__` instead: the saved args and attributes are the whole state."""
    try:
        return cls(*args)
    except TypeError as e:
        if not isinstance(cls.__init__, types.FunctionType):  # a C __init__ really needs them
            raise DecodeError(f"rebuilding {ref} failed: TypeError: {e}") from e
        return _call(cls.__new__, ref, cls, *args)
    except Exception as e:
        raise DecodeError(f"rebuilding {ref} failed: {type(e).__name__}: {e}") from e


def _call(fn: Callable[..., Any], what: object, *args: Any, **kwargs: Any) -> Any:
    """Call a validated class's constructor; any failure becomes a `DecodeError`."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:
        raise DecodeError(f"rebuilding {what} failed: {type(e).__name__}: {e}") from e
