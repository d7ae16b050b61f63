"""Leaf values of the codec: scalars, ``bytes``, ``range``, date and time, decimal and UUID,
and the immutable standard-library values (paths, regexes, IP addresses, fractions, complex).

Both directions of each leaf tag (``int``, ``float``, ``str``, ``bytes``, ``bytearray``,
``range``, ``datetime``, ``date``, ``time``, ``timedelta``, ``timezone``, ``zoneinfo``,
``decimal``, ``uuid``, ``path``, ``regex``, ``ip``, ``fraction``, ``complex``, ``array``),
so that a tag's encoder and decoder can be read against each other:
the leaf encoders (value to JSON, and `_LEAF_ENCODERS`, the encoder's table of them) and the
leaf decoders (node to value), with the node-reading helpers the decoder also uses (`_get`,
`_tag_of`, `_json_kind`, `_int_value`, `_str_value`, `_b64`). Plain functions: none of them
holds identity or needs the state of an encoder or decoder.
"""

from __future__ import annotations

import array
import base64
import binascii
import datetime as _dt
import decimal
import fractions
import ipaddress
import math
import pathlib
import re
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any, Final

from ._types import (
    _MISS,
    _SURROGATE,
    JSON,
    DecodeError,
    _Node,
    _Refuse,
    _type_name,
)

_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**63 - 1
_HEX_INT: Final = re.compile("-?[0-9a-f]+")
_ZONE_KEY: Final = re.compile("[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")

_SPECIAL_FLOATS: Final[dict[str, float]] = {
    "nan": math.nan,
    "-nan": -math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "-0.0": -0.0,
}

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


def _by_name(*classes: type) -> dict[str, type]:
    return {cls.__name__: cls for cls in classes}


_PATHS: Final = _by_name(
    pathlib.PurePosixPath, pathlib.PureWindowsPath, pathlib.PosixPath, pathlib.WindowsPath
)
_IPS: Final = _by_name(
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
)
_PATTERN: Final = type(re.compile(""))
_RE_FLAGS: Final = 0x1FF  # every flag re knows, TEMPLATE and DEBUG included


def _e_path(v: pathlib.PurePath) -> JSON:
    return {"$t": "path", "k": type(v).__name__, "v": _e_str(str(v))}


def _e_regex(v: re.Pattern[Any]) -> JSON:
    pattern = _e_str(v.pattern) if type(v.pattern) is str else _e_bytes(v.pattern)
    return {"$t": "regex", "v": pattern, "f": v.flags}


def _e_ip(v: object) -> JSON:
    return {"$t": "ip", "k": type(v).__name__, "v": str(v)}


def _e_fraction(v: fractions.Fraction) -> JSON:
    return {"$t": "fraction", "v": [_e_int(v.numerator), _e_int(v.denominator)]}


def _e_complex(v: complex) -> JSON:
    return {"$t": "complex", "v": [_e_float(v.real), _e_float(v.imag)]}


def _e_array(v: array.array[Any]) -> _Node:
    """Items, not machine bytes: an item size and byte order may differ where it is read."""
    if v.typecode in "fd":
        items = [_e_float(x) for x in v]
    elif v.typecode == "u":
        items = [_e_str(v.tounicode())]
    else:
        items = [_e_int(x) for x in v]
    return {"$t": "array", "k": v.typecode, "v": items}


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
    **dict.fromkeys(_PATHS.values(), _e_path),
    _PATTERN: _e_regex,
    **dict.fromkeys(_IPS.values(), _e_ip),
    fractions.Fraction: _e_fraction,
    complex: _e_complex,
}

# ---------------------------------------------------------------------------------------------
# Decoding


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


def _d_path(node: _Node) -> pathlib.PurePath:
    kind: str = _get(node, "k", str)
    cls = _PATHS.get(kind)
    if cls is None:
        raise DecodeError(f"'path' node: unknown path type {kind[:40]!r}")
    try:
        path: pathlib.PurePath = cls(_str_value(node.get("v")))
    except (NotImplementedError, ValueError, TypeError) as e:  # WindowsPath on POSIX
        raise DecodeError(f"'path' node: a {cls.__name__} cannot be made here ({e})") from None
    return path


def _d_regex(node: _Node) -> re.Pattern[Any]:
    flags = _get(node, "f", int)
    if flags & ~_RE_FLAGS:
        raise DecodeError(f"'regex' node: unknown flags {flags:#x}")
    raw = node.get("v")
    is_bytes = type(raw) is dict and raw.get("$t") == "bytes"
    pattern: str | bytes = _b64(raw) if is_bytes else _str_value(raw)  # type: ignore[arg-type]
    try:
        return re.compile(pattern, flags)
    except (re.error, ValueError, TypeError, OverflowError, RecursionError) as e:
        raise DecodeError(f"'regex' node: {e}") from None


def _d_ip(node: _Node) -> object:
    cls = _IPS.get(_get(node, "k", str))
    text = _get(node, "v", str)
    if cls is None or len(text) > 100:
        raise DecodeError(f"'ip' node: not an address of a known kind: {text[:40]!r}")
    try:
        return cls(text)
    except ValueError as e:
        raise DecodeError(f"'ip' node: {e}") from None


def _pair(node: _Node) -> list[Any]:
    parts: list[Any] = _get(node, "v", list)
    if len(parts) != 2:
        raise DecodeError(f"{_tag_of(node)!r} node: 'v' must hold two numbers")
    return parts


def _d_fraction(node: _Node) -> fractions.Fraction:
    numerator, denominator = (_int_value(x) for x in _pair(node))
    if denominator <= 0:
        raise DecodeError("'fraction' node: the denominator must be positive")
    return fractions.Fraction(numerator, denominator)


def _float_value(x: JSON) -> float:
    if type(x) is float:
        return x
    if type(x) is int and abs(x) <= 2**53:
        return float(x)
    if type(x) is dict and x.get("$t") == "float":
        return _d_float(x)
    raise DecodeError(f"expected a number, got {_json_kind(x)}")


def _d_complex(node: _Node) -> complex:
    real, imag = (_float_value(x) for x in _pair(node))
    return complex(real, imag)


def _array_items(node: _Node) -> tuple[str, list[Any]]:
    code = _get(node, "k", str)
    if len(code) != 1 or code not in array.typecodes:
        raise DecodeError(f"'array' node: unknown type code {code[:10]!r}")
    raw = _get(node, "v", list)
    if code in "fd":
        return code, [_float_value(x) for x in raw]
    if code == "u":
        if len(raw) != 1:
            raise DecodeError("'array' node: a 'u' array holds one string")
        return code, list(_str_value(raw[0]))
    return code, [_int_value(x) for x in raw]


def _new_array(node: _Node) -> array.array[Any]:
    code, items = _array_items(node)
    try:
        return array.array(code, items)
    except (OverflowError, TypeError, ValueError) as e:
        raise DecodeError(f"'array' node: {e}") from None
