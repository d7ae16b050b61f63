"""What the whole codec shares: the JSON types, the errors, class references and lookup.

`JSON` (and `_Node`, a tagged object); the errors `UnencodableValue` (encoding) and
`DecodeError` (decoding); the registry of classes that may be saved by reference
(`allow_class_reference`); finding a class by ``module:qualname`` without running any of its
code (`_lookup`; `_class_ref` when encoding, `_resolve_class` when decoding); the per-class
dataclass and model specs; which attribute names may be saved; the kinds of sequence iterator;
the JSON depth bound; and the sentinels and short reprs used on both sides. `_leaves`,
`_encode` and `_decode` import from here, never the other way. The format itself is described
in the package docstring (`durable._model._codec`).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
import reprlib
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeAlias, TypeGuard

from pydantic import BaseModel

from ..._importname import loaded_module, saved_name

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


_SURROGATE: Final = re.compile("[\\ud800-\\udfff]")
_MODULE_NAME: Final = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", re.ASCII)

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
# Names, class lookup, per-class specs


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
    """The object `module:qualname` names, or None; reads namespaces only, runs no code.

    `module` may be the importable name of the module run as ``__main__``: that module is
    meant (see `durable._importname`)."""
    obj: object = loaded_module(module)
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
    return _ref_name(cls)


def _ref_name(cls: type) -> str:
    """The ``module:qualname`` saved for `cls`: a class of the module run as ``__main__`` is
    saved under that module's importable name, so another process that imports it finds it."""
    return saved_name(cls)


def _class_attr(cls: type, name: str) -> object:
    """`name` as the first class in `cls`'s MRO defines it (namespaces only), or `_MISS`."""
    for base in _mro(cls):
        namespace = _TYPE_DICT.__get__(base, type)
        if name in namespace:
            return namespace[name]
    return _MISS


def _has_dataclass_fields(cls: type) -> bool:
    """Whether `cls` really is a dataclass: its ``__dataclass_fields__`` and
    ``__dataclass_params__`` are what ``@dataclass`` sets (a dict of `dataclasses.Field` by
    name, and the decorator's parameters), not just attributes that carry those names."""
    fields = _class_attr(cls, "__dataclass_fields__")
    params = _class_attr(cls, "__dataclass_params__")
    if type(fields) is not dict or type(params) is not _DATACLASS_PARAMS:
        return False
    return all(
        type(name) is str and type(f) is dataclasses.Field and f.name == name
        for name, f in fields.items()
    )


_DATACLASS_PARAMS: Final = type(
    _TYPE_DICT.__get__(dataclasses.dataclass(type("_Probe", (), {})), type)["__dataclass_params__"]
)

# The classes a snapshot may name, as "module:qualname" (None: any of the allowed kinds).
_ALLOWED: frozenset[str] | None = None


def restrict_classes(classes: Iterable[type | str] | None) -> None:
    """Let snapshots being loaded name only these classes (or "module:qualname" strings), as
    well as the built-in exceptions; ``None`` lifts the restriction.

    Loading a snapshot calls the constructors and validators of the classes it names (your
    dataclasses, pydantic models, exceptions, named tuples and enums, of those kinds only, in
    modules already imported). With a restriction, a snapshot naming any other class is
    refused as corrupt before anything of it is called.
    """
    global _ALLOWED
    if classes is None:
        _ALLOWED = None
        return
    refs = set()
    for c in classes:
        if isinstance(c, str):
            refs.add(c)
        elif _is_class(c):
            refs.add(_ref_name(c))
        else:
            raise TypeError(
                f"restrict_classes takes classes or 'module:qualname' strings, not {c!r}"
            )
    _ALLOWED = frozenset(refs)


def _namedtuple_fields(cls: type) -> tuple[str, ...] | None:
    """The `_fields` of a named tuple class (``collections.namedtuple`` or
    ``typing.NamedTuple``, or a subclass of one); None for anything else. Reads class
    namespaces only."""
    mro = _mro(cls)
    if tuple not in mro:
        return None
    for base in mro:
        fields = _TYPE_DICT.__get__(base, type).get("_fields")
        if fields is not None:
            ok = type(fields) is tuple and all(type(f) is str for f in fields)
            return fields if ok else None
    return None


_KIND_CHECKS: Final[dict[str, tuple[str, Callable[[type], bool]]]] = {
    "enum": ("an Enum", lambda c: enum.Enum in _mro(c)),
    "exc": ("an exception class (an Exception subclass)", lambda c: Exception in _mro(c)),
    "dataclass": ("a dataclass", _has_dataclass_fields),
    "model": ("a pydantic model", lambda c: BaseModel in _mro(c)),
    "ntuple": ("a named tuple", lambda c: _namedtuple_fields(c) is not None),
    "class": (
        "a class with durable methods",
        lambda c: _ref_name(c) in _CLASS_REFERENCES,
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
    if loaded_module(module) is None:
        raise DecodeError(
            f"class {ref} is in module {module!r}, which is not imported: import it before "
            "resuming (decoding never imports modules)"
        )
    if _ALLOWED is not None and ref not in _ALLOWED and module != "builtins":
        raise DecodeError(
            f"class {ref} is not among the classes allowed to be loaded (restrict_classes)"
        )
    cls = _lookup(module, qualname)
    what, check = _KIND_CHECKS[kind]
    if not _is_class(cls) or not check(cls):
        raise DecodeError(f"{ref} is not {what}; refusing to use it")
    return cls


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
        ref=_ref_name(cls),
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
    untyped: frozenset[str]  # fields of type Any: their own serialisation would lose types


@functools.cache
def _model_spec(cls: type[BaseModel]) -> _ModelSpec:
    return _ModelSpec(
        ref=_ref_name(cls),
        names=tuple(cls.model_fields),
        root=bool(getattr(cls, "__pydantic_root_model__", False)),
        private=frozenset(getattr(cls, "__private_attributes__", None) or ()),
        untyped=frozenset(
            name for name, f in cls.model_fields.items() if f.annotation in (Any, object, None)
        ),
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

_REPR: Final = reprlib.Repr()
_REPR.maxstring = 40
_REPR.maxother = 40
_REPR.maxlevel = 2


def _short_repr(x: object) -> str:
    try:
        return _REPR.repr(x)
    except Exception:
        return f"<{_type_name(type(x))}>"
