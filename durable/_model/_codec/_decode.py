"""The codec's `Decoder`: codec JSON back to a graph of Python values.

The decoder's driver (handler generators on an explicit stack, ids, ``$ref``, ``$same`` and
``$out``), its handlers for containers, iterators, enums, exceptions, dataclasses and models,
and the helpers that rebuild user types (calling a validated class, restoring a model's exact
saved state, building an exception whose ``__init__`` takes other parameters). Leaf values are
decoded by `_leaves`; classes are resolved by `_types._resolve_class`.
"""

from __future__ import annotations

import collections
import enum
import functools
import types
from collections.abc import Callable, Generator, Iterator
from typing import Any, Final, TypeAlias

from ..._iterators import (
    RaisingIterator,
    SetResume,
    dict_iterator_at,
)
from ._functions import _d_cell, _d_frame_cells, _d_function
from ._leaves import (
    _b64,
    _d_bytes,
    _d_complex,
    _d_date,
    _d_datetime,
    _d_decimal,
    _d_float,
    _d_fraction,
    _d_int,
    _d_ip,
    _d_path,
    _d_range,
    _d_regex,
    _d_str,
    _d_time,
    _d_timedelta,
    _d_timezone,
    _d_uuid,
    _d_zoneinfo,
    _get,
    _int_value,
    _json_kind,
    _new_array,
    _tag_of,
)
from ._sets import fill_ordered, ordered_frozenset, valid_table_size
from ._types import (
    _FACTORIES,
    _ITER_KINDS,
    _MISS,
    _PUSHED,
    JSON,
    DecodeError,
    _dataclass_spec,
    _exc_attr,
    _ident_attr,
    _model_spec,
    _namedtuple_fields,
    _Node,
    _plain_str,
    _resolve_class,
    _short_repr,
    _type_name,
    _Unsupported,
)

_JSON_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
_HASHED_NESTS: Final = frozenset({tuple, frozenset})

_DecGen: TypeAlias = Generator[JSON, object, object]


# Tuples and frozensets nested deeper than this are not hashed (as a set item or dict key):
# CPython hashes them recursively in C, without a recursion limit, and a snapshot can nest
# them a million deep through out-of-line nodes; plain Python code never hashes such a key.
_MAX_KEY_DEPTH: Final = 5_000


def _check_hashable(value: object, where: str, depths: dict[int, int] | None = None) -> None:
    if depths and depths.get(id(value), 0) > _MAX_KEY_DEPTH:
        raise DecodeError(f"{where} nested more than {_MAX_KEY_DEPTH} levels deep")
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
        self._depths: dict[int, int] = {}  # id() of decoded tuples and frozensets -> nesting
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
            "path": _d_path,
            "regex": _d_regex,
            "ip": _d_ip,
            "fraction": _d_fraction,
            "complex": _d_complex,
            "array": self._d_array,
            "enum": self._d_enum,
            "class": self._d_class,
            "cells": functools.partial(_d_frame_cells, self),
        }
        generators: dict[str, Callable[[_Node], _DecGen]] = {
            "list": self._d_list,
            "tuple": self._d_tuple,
            "ntuple": self._d_ntuple,
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
            "fn": functools.partial(_d_function, self),
            "cell": functools.partial(_d_cell, self),
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

    def _reset(self) -> None:
        """Forget every id and cached class, as a new decoder (its handler table stays)."""
        self._objs.clear()
        self._tags.clear()
        self._order.clear()
        self._stack.clear()
        self._outs = None
        self._classes.clear()
        self._depths.clear()

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
            self._depths.pop(id(self._objs[n]), None)
            del self._objs[n]
            del self._tags[n]
        del self._order[mark:]

    def _where(self) -> str:
        labels = []
        stack = self._stack
        if len(stack) > 8:  # the outermost and innermost levels of a deep nesting
            stack = [*stack[:3], *stack[-4:]]
        for frame in stack:
            label, ref, n = _tag_of(frame.node), frame.node.get("cls"), frame.node.get("$id")
            label += f" {ref}" if type(ref) is str else ""
            label += f" #{n}" if type(n) is int else ""
            labels.append(label)
        if len(self._stack) > 8:
            labels.insert(3, f"... {len(self._stack) - 7} more ...")
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

    def _nest(self, obj: object, items: list[object]) -> None:
        """Record how deep tuples and frozensets nest in `obj` (see `_MAX_KEY_DEPTH`)."""
        depths = self._depths
        if depths or any(type(x) in _HASHED_NESTS for x in items):
            depths[id(obj)] = 1 + max((depths.get(id(x), 0) for x in items), default=0)

    # -- leaves that need the decoder ---------------------------------------------------------

    def _d_bytearray(self, node: _Node) -> bytearray:
        obj = bytearray(_b64(node))
        self._define(node, obj, "bytearray")
        return obj

    def _d_array(self, node: _Node) -> object:
        obj = _new_array(node)
        self._define(node, obj, "array")
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
        items = yield from self._items(node)
        for item in items:
            _check_hashable(item, "set item", self._depths)
        fill_ordered(obj, items, _table_size(node, len(items)))
        return obj

    def _d_tuple(self, node: _Node) -> _DecGen:
        items = yield from self._items(node)
        if "$same" in node:
            return self._same(node, "tuple")
        obj = tuple(items)
        self._define(node, obj, "tuple")
        self._nest(obj, items)
        return obj

    def _d_ntuple(self, node: _Node) -> _DecGen:
        cls: Any = self._class(node, "ntuple")
        items = yield from self._items(node)
        if "$same" in node:
            return self._same(node, "ntuple")
        fields = _namedtuple_fields(cls)
        if fields is None or len(items) != len(fields):
            raise DecodeError(f"{node['cls']} has {len(fields or ())} fields, not {len(items)}")
        obj = tuple.__new__(cls, items)  # what the generated __new__ does, without calling it
        self._define(node, obj, "ntuple")
        self._nest(obj, items)
        return obj

    def _d_frozenset(self, node: _Node) -> _DecGen:
        items = yield from self._items(node)
        for item in items:
            _check_hashable(item, "frozenset item", self._depths)
        if "$same" in node:
            return self._same(node, "frozenset")
        obj = ordered_frozenset(items, _table_size(node, len(items)))
        self._define(node, obj, "frozenset")
        self._nest(obj, items)
        return obj

    def _fill_map(self, node: _Node, obj: dict[object, object]) -> _DecGen:
        flat = _get(node, "v", list)
        if len(flat) % 2:
            raise DecodeError(f"{_tag_of(node)!r} node: 'v' must hold key/value pairs")
        for i in range(0, len(flat), 2):
            k, x = flat[i], flat[i + 1]
            if type(k) in _JSON_SCALARS:
                key = k
            else:
                key = yield k
                _check_hashable(key, "dict key", self._depths)
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
        for key in ("cause", "context"):
            if key in node:
                linked = yield node[key]
                if not isinstance(linked, BaseException):
                    raise DecodeError(f"'exc' node: {key!r} must be an exception")
                setattr(obj, f"__{key}__", linked)
        suppress = node.get("suppress", False)
        if type(suppress) is not bool:
            raise DecodeError("'exc' node: 'suppress' must be a boolean")
        obj.__suppress_context__ = suppress  # after __cause__, whose setter sets it
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
        dumped = node.get("json", [])
        if type(dumped) is not list or not all(type(name) is str for name in dumped):
            raise DecodeError("'model' node: 'json' must hold field names")
        data = values.get("root") if spec.root else values | extra
        try:
            # Fields saved as the model's own JSON-mode data are validated as such: in lax
            # mode (a strict model would refuse a URL given as a string), as from JSON.
            cls.__pydantic_validator__.validate_python(
                data,
                self_instance=obj,
                by_alias=False,
                by_name=True,
                strict=False if dumped else None,
            )
        except Exception as e:
            raise DecodeError(f"the saved fields of {spec.ref} do not validate: {e}") from e
        _restore_model_state(obj, values, extra, private, fields_set)
        return obj


# ---------------------------------------------------------------------------------------------
# Rebuilding user types


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


def _table_size(node: _Node, n: int) -> int | None:
    """The saved table size of a set: a hint, ignored when it is not one a set can have."""
    size = node.get("m")
    return size if valid_table_size(size, n) else None  # type: ignore[return-value]


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
