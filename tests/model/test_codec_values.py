"""Common value types round-trip through the codec; exception chains keep their identity.

The classes below live at module level on purpose: the codec finds user classes again by
``module:qualname`` in ``sys.modules``.
"""

from __future__ import annotations

import array
import collections
import enum
import fractions
import ipaddress
import json
import math
import pathlib
import re
import typing
import zoneinfo
from typing import Any

import pydantic_core
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import (
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    IPvAnyAddress,
    SecretBytes,
    SecretStr,
)

from durable._model._codec import Decoder, Encoder, UnencodableValue

# -- module-level user types ------------------------------------------------------------------

Pair = collections.namedtuple("Pair", "left right")


class Span(typing.NamedTuple):
    start: int
    stop: int = 0
    label: str = ""


class Perm(enum.Flag):
    R = 4
    W = 2
    X = 1


class Bits(enum.IntFlag):
    A = 1
    B = 2


class Account(BaseModel):
    token: SecretStr
    key: SecretBytes = SecretBytes(b"k")
    site: HttpUrl
    home: pathlib.Path
    mirrors: list[AnyUrl] = []
    address: IPvAnyAddress = ipaddress.ip_address("127.0.0.1")
    email: typing.Annotated[str, Field(pattern=r".+@.+")] = "a@b.c"
    tags: list[str] = []


class StrictAccount(BaseModel):
    model_config = ConfigDict(strict=True)
    site: HttpUrl
    token: SecretStr


class HiddenSecrets(BaseModel):
    tokens: list[SecretStr]


class AppError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"failed with {code}")
        self.code = code


# -- helpers ----------------------------------------------------------------------------------


def roundtrip_all(values: list[Any]) -> list[Any]:
    encoder = Encoder()
    encoded = [encoder.encode(v, f"v{i}") for i, v in enumerate(values)]
    assert pydantic_core.from_json(pydantic_core.to_json(encoded)) == encoded
    decoder = Decoder()
    return [decoder.decode(x) for x in json.loads(json.dumps(encoded, allow_nan=False))]


def roundtrip(value: Any) -> Any:
    return roundtrip_all([value])[0]


def assert_same(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    assert repr(a) == repr(b)


# -- standard-library values ------------------------------------------------------------------

VALUES = [
    pathlib.Path("/tmp/a b/c.txt"),
    pathlib.Path("relative/x"),
    pathlib.PurePosixPath("/etc"),
    pathlib.PureWindowsPath(r"C:\Users\x\file.txt"),
    pathlib.PureWindowsPath(r"\\server\share\dir"),
    pathlib.Path("caf\udce9"),  # a file name that is not UTF-8 (surrogateescape)
    re.compile(r"(?P<word>\w+)-\d{2,}", re.IGNORECASE | re.MULTILINE),
    re.compile(r"a.b", re.DOTALL | re.VERBOSE | re.ASCII),
    re.compile(b"\x00[a-z]+", re.IGNORECASE),
    re.compile("caf\u00e9|\ud800"),
    ipaddress.IPv4Address("192.168.0.1"),
    ipaddress.IPv6Address("2001:db8::1"),
    ipaddress.IPv6Address("fe80::1%eth0"),
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv6Network("2001:db8::/32"),
    ipaddress.IPv4Interface("192.168.1.7/24"),
    ipaddress.IPv6Interface("2001:db8::7/64"),
    fractions.Fraction(-3, 7),
    fractions.Fraction(2**80, 3),
    complex(1.5, -0.0),
    complex(math.inf, math.nan),
    array.array("d", [1.5, -0.0, math.inf]),
    array.array("i", [1, -2, 3]),
    array.array("Q", [2**64 - 1]),
    array.array("b"),
    array.array("u", "h\u00e9llo"),
    zoneinfo.ZoneInfo("Europe/Paris"),
    collections.deque([1, [2]], maxlen=5),
    collections.deque(),
    Pair(1, [2, 3]),
    Span(3),
    Span(1, 2, "x"),
    Perm.R | Perm.W,
    Perm(0),
    Perm.R | Perm.W | Perm.X,
    ~Perm.R,
    Bits(0),
    Bits.A | Bits.B,
    Bits(8),  # an IntFlag pseudo-member outside its members
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_standard_library_values_round_trip(value: Any) -> None:
    back = roundtrip(value)
    assert_same(back, value)
    if isinstance(value, re.Pattern):
        assert (back.pattern, back.flags) == (value.pattern, value.flags)
    elif isinstance(value, collections.deque):
        assert back.maxlen == value.maxlen
    elif not isinstance(value, complex):
        assert back == value


def test_mutable_values_keep_their_identity() -> None:
    arr, dq = array.array("i", [1]), collections.deque([1], maxlen=2)
    a, b, c, d = roundtrip_all([arr, dq, arr, dq])
    assert a is c and b is d
    pair = Pair([1], None)
    p1, p2 = roundtrip([pair, pair])
    assert p1 is p2 and type(p1) is Pair


def test_a_cycle_through_a_named_tuple() -> None:
    pair = Pair([], 1)
    pair.left.append(pair)
    back = roundtrip(pair)
    assert type(back) is Pair and back.left[0] is back


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.fractions(),
        st.complex_numbers(allow_nan=False),
        st.ip_addresses(),
        st.text(max_size=12).map(pathlib.PurePosixPath),
        st.lists(st.integers(-(2**63), 2**63 - 1), max_size=8).map(lambda x: array.array("q", x)),
        st.builds(Span, st.integers(), st.integers(), st.text(max_size=4)),
        st.sampled_from(list(Perm)).flatmap(lambda p: st.sampled_from([p, p | Perm.X, ~p])),
    )
)
def test_new_value_types_round_trip(value: Any) -> None:
    back = roundtrip(value)
    assert_same(back, value)
    assert back == value


@pytest.mark.parametrize(
    "node",
    [
        {"$t": "path", "k": "Path", "v": "x"},
        {"$t": "path", "k": "PosixPath", "v": 3},
        {"$t": "regex", "v": "(", "f": 0},
        {"$t": "regex", "v": "a", "f": 1 << 20},
        {"$t": "regex", "v": "a", "f": "i"},
        {"$t": "ip", "k": "IPv4Address", "v": "1.2.3"},
        {"$t": "ip", "k": "ip_address", "v": "1.2.3.4"},
        {"$t": "fraction", "v": [1, 0]},
        {"$t": "fraction", "v": [1]},
        {"$t": "complex", "v": ["x", 1]},
        {"$t": "array", "k": "z", "v": [], "$id": 0},
        {"$t": "array", "k": "b", "v": [1000], "$id": 0},
        {"$t": "array", "k": "i", "v": [1], "$id": "x"},
        {"$t": "ntuple", "cls": f"{__name__}:Pair", "v": [1], "$id": 0},
        {"$t": "ntuple", "cls": f"{__name__}:Account", "v": [], "$id": 0},
    ],
)
def test_malformed_new_nodes_raise_decode_error(node: Any) -> None:
    from durable._model._codec import DecodeError

    with pytest.raises(DecodeError):
        Decoder().decode(node)


# -- pydantic models with special field types ---------------------------------------------


def test_a_model_with_special_fields_round_trips_through_its_own_serialisation() -> None:
    tags = ["a", "b"]
    account = Account(
        token=SecretStr("s3cret"),
        key=SecretBytes(b"\x00\xff"),
        site=HttpUrl("https://example.com/a?b=c"),
        home=pathlib.Path("/home/x"),
        mirrors=[AnyUrl("ftp://mirror/")],
        address=ipaddress.ip_address("::1"),
        tags=tags,
    )
    encoded = Encoder().encode([account, account.tags], "v")
    text = json.dumps(encoded)
    assert "s3cret" in text  # secrets are saved revealed: the saved state holds them
    back, back_tags = Decoder().decode(json.loads(text))
    assert back == account
    assert back.token.get_secret_value() == "s3cret"
    assert back.key.get_secret_value() == b"\x00\xff"
    assert type(back.site) is HttpUrl and type(back.home) is pathlib.PosixPath
    assert back.tags is back_tags  # fields the codec saves itself keep their identity
    assert back.model_fields_set == account.model_fields_set


def test_a_strict_model_with_special_fields_round_trips() -> None:
    model = StrictAccount(site=HttpUrl("http://a.b/"), token=SecretStr("t"))
    back = roundtrip(model)
    assert back == model and back.token.get_secret_value() == "t"


def test_a_secret_inside_a_container_field_is_refused_not_masked() -> None:
    with pytest.raises(UnencodableValue, match="secret"):
        Encoder().encode(HiddenSecrets(tokens=[SecretStr("x")]), "m")


# -- exceptions: chains, notes, identity -----------------------------------------------------


def _chained() -> ValueError:
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise ValueError("outer") from inner
    except ValueError as e:
        e.add_note("a note")
        return e


def _implicit() -> TypeError:
    try:
        try:
            raise AppError(7)
        except AppError:
            raise TypeError("while handling") from None
    except TypeError as e:
        return e


def test_cause_context_suppress_and_notes_survive() -> None:
    original = _chained()
    back = roundtrip(original)
    assert type(back.__cause__) is KeyError and back.__cause__.args == ("inner",)
    assert back.__context__ is back.__cause__
    assert back.__suppress_context__ is True
    assert back.__notes__ == ["a note"]
    assert back.__traceback__ is None  # tracebacks are not saved

    implicit = roundtrip(_implicit())
    assert implicit.__cause__ is None and implicit.__suppress_context__ is True
    assert type(implicit.__context__) is AppError and implicit.__context__.code == 7


def test_context_without_suppression() -> None:
    try:
        try:
            raise KeyError(1)
        except KeyError:
            raise ValueError(2)
    except ValueError as e:
        back = roundtrip(e)
    assert type(back.__context__) is KeyError and back.__suppress_context__ is False


def test_chain_identity_is_shared_with_other_variables() -> None:
    outer = _chained()
    inner = outer.__cause__
    a, b = roundtrip_all([inner, outer])
    assert b.__cause__ is a and b.__context__ is a


def test_cycles_through_exception_chains() -> None:
    a, b = ValueError("a"), KeyError("b")
    a.__context__, b.__context__ = b, a
    a.__cause__ = a
    back = roundtrip([a, b])
    assert back[0].__context__ is back[1] and back[1].__context__ is back[0]
    assert back[0].__cause__ is back[0]


def test_a_chain_through_args_and_a_list() -> None:
    holder: list[Any] = []
    e = ValueError(holder)
    holder.append(e)
    e.__cause__ = KeyError(holder)
    back = roundtrip(e)
    assert back.args[0][0] is back and back.__cause__.args[0] is back.args[0]


def test_a_chained_exception_whose_class_cannot_be_saved_is_left_out() -> None:
    class Local(Exception):
        pass

    e = ValueError("kept")
    e.__context__ = Local()
    back = roundtrip(e)
    assert back.args == ("kept",) and back.__context__ is None


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"$t": "exc", "cls": "builtins:ValueError", "args": [], "$id": 0, "cause": 3}, "cause"),
        (
            {"$t": "exc", "cls": "builtins:ValueError", "args": [], "$id": 0, "suppress": 1},
            "suppress",
        ),
    ],
)
def test_malformed_chains_raise_decode_error(node: Any, message: str) -> None:
    from durable._model._codec import DecodeError

    with pytest.raises(DecodeError, match=message):
        Decoder().decode(node)
