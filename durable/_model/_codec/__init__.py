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
``list``        ``{"v": [items]}``; ``tuple`` the same
``set``         ``{"v": [items in iteration order], "m"?: table size}``; ``frozenset`` the
                same (``m`` only when it is not the size ``set(dict)`` gives; see `_sets`)
``deque``       ``{"v": [items], "m"?: maxlen}``
``dict``        ``{"v": [k0, v0, ...]}``; also ``odict`` (OrderedDict), ``counter``,
                ``defaultdict`` (plus ``"f": "list" | ... | null``, the default factory)
``range``       ``{"v": [start, stop, step]}``
``datetime``    ``{"v": naive isoformat, "tz"?: tz node, "fold"?: 1}``; ``time`` the same
``date``        ``{"v": isoformat}``; ``timedelta`` ``{"v": [days, seconds, microseconds]}``
``timezone``    ``{"v": [days, seconds, microseconds], "name"?: str}`` (datetime.timezone)
``zoneinfo``    ``{"v": key}``
``decimal``     ``{"v": str(d)}``; ``uuid`` ``{"v": str(u)}``
``fraction``    ``{"v": [numerator, denominator]}``; ``complex`` ``{"v": [real, imag]}``
``path``        ``{"k": "PosixPath" | "WindowsPath" | "PurePosixPath" | "PureWindowsPath",
                "v": str(path)}``
``regex``       ``{"v": pattern (a str, or a bytes node), "f": flags}``
``ip``          ``{"k": "IPv4Address" | ... | "IPv6Interface", "v": str(value)}``
``array``       ``{"k": typecode, "v": [items]}`` (items, not machine bytes; ``u``: one str)
``enum``        ``{"cls": "mod:Qual", "name": member}`` or ``"flag": int`` (composite Flag)
``ntuple``      ``{"cls": ..., "v": [items]}`` (collections.namedtuple, typing.NamedTuple)
``dataclass``   ``{"cls": ..., "v": {field: value}, "attrs"?: [name, value, ...]}``
``model``       ``{"cls": ..., "v": {field: value}, "extra"?: [...], "private"?: [...],
                "set": [names in model_fields_set], "json"?: [fields saved as the model's
                own JSON-mode data]}``
``exc``         ``{"cls": ..., "args": [values], "attrs"?: [name, value, ...], "cause"?: exc,
                "context"?: exc, "suppress"?: true}``
``iter``        ``{"k": "list_iterator" | ..., "v"?: sequence, "i"?: index}`` (no ``v``
                when the iterator released its exhausted sequence or iterates an empty range)
``enumerate``   ``{"it": iterator, "n": next count}``; ``zip`` ``{"its": [iterators],
                "strict"?: true}``
``citer``       a dict or set iterator: ``{"k": "keys" | "values" | "items" | "set",
                "c"?: the dict or set, "n"?: items left (dicts: always its last ones),
                "r"?: the items left (sets, whose order a rebuilt set may not keep),
                "s"?: the set's size, "broken"?: message}`` (no ``c`` once exhausted;
                ``broken`` when the container changed size: the next ``next`` raises)
``fn``          a ``lambda`` or ``def`` made by a durable function, by reference to its
                definition site; ``cell`` a closure cell; ``cells`` a frame's cells (weak).
                See `_functions`
``deep``        ``{"v": value, "d": [nodes]}``: only at the root of one ``encode`` result
==============  ==========================================================================

Identity
--------
Every object with identity (all containers, bytearray, array, dataclass and model instances,
exceptions, iterators) gets an integer ``"$id"``; later occurrences are ``{"$ref": n}``. An
`Encoder` numbers objects across all its `Encoder.encode` calls and pins them, so a `Decoder`
fed the results in the same order rebuilds one object per id, shared across variables and
frames. The decoder defines ids in depth-first order, so every ``$ref`` follows its definition:

* *pre-order* kinds (list, dict, set, deque, ..., dataclass, model) are created empty, get
  their id, then are filled, so cycles through them close naturally. Dataclass and model
  instances are allocated first and initialised in place (``cls.__init__(obj, ...)`` /
  ``validate_python(..., self_instance=obj)``), which is what calling the class does.
* *post-order* kinds (tuple, named tuple, frozenset, exception, iterator) are built from
  finished children and get their id afterwards. When a cycle leads back into one of them
  while it is being encoded (``t = ([],); t[0].append(t)``), the inner occurrence is encoded
  in full and defined first; the outer one is then emitted with ``"$same": n`` and decodes
  to that same object. A cycle that passes *only* through post-order kinds cannot be
  rebuilt and is refused, except through an exception's ``cause`` and ``context``: they are
  set on the built exception, so they come after its id and chains may share and cycle.

Rebuilding user types
---------------------
* dataclass: ``__init__`` with the ``init=True`` fields (so ``__post_init__`` runs), then the
  ``init=False`` fields and other instance attributes by ``setattr`` (``object.__setattr__``
  when frozen); a dataclass with an ``InitVar`` without default cannot be saved.
* model: validated with ``by_name=True, by_alias=False`` (so aliases do not matter), then the
  exact saved objects are put back in ``__dict__``, ``__pydantic_extra__``,
  ``__pydantic_private__`` and ``__pydantic_fields_set__``: validation copies list/dict
  fields, which would cut them off from other variables sharing them.
* model fields whose value the codec cannot save itself (``HttpUrl``, a library's type) are
  saved as the model's own ``to_python(mode="json", round_trip=True)`` data of that field and
  listed in ``"json"``; a ``SecretStr``/``SecretBytes`` field is saved revealed. Such a model
  is validated in lax mode (a strict model would refuse a URL given as a string). Fields
  typed ``Any`` are never saved that way: their serialisation would lose the types.
* exception (``Exception`` subclasses only): ``cls(*args)``, then ``args`` and the instance
  ``__dict__`` (``__notes__`` included) are restored; when a Python ``__init__`` rejects the
  saved args (it took other parameters than it passed on), ``cls.__new__(cls, *args)``
  allocates it instead. Then ``__cause__``, ``__context__`` and ``__suppress_context__`` are
  set. A chained exception whose class cannot be saved is left out; the traceback is not
  kept.
* named tuple: ``tuple.__new__(cls, items)`` (what its generated ``__new__`` does).

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
already be imported; the module run as ``__main__`` is saved and found under its importable
name, see `durable._importname`) by walking namespaces (``__dict__``, no ``getattr``, so no module
``__getattr__`` runs), and must be of the kind the tag allows (an Enum, a dataclass, a pydantic
model, an ``Exception`` subclass, a named tuple) before their constructor or validator is
called. Anything else is a `DecodeError` and nothing is called: a dataclass must really be one
(its ``__dataclass_fields__`` and ``__dataclass_params__`` are what ``@dataclass`` sets), and
a control-flow exception (``SystemExit``, ``KeyboardInterrupt``, ``CancelledError``, durable's
internal ones) never loads, so a tampered outcome cannot make the caller exit.
`restrict_classes` narrows the classes a snapshot may name to an explicit list (built-in
exceptions stay allowed). Tuples and frozensets nested more than ``_MAX_KEY_DEPTH`` deep are
refused as set items or dict keys before being hashed: CPython hashes them recursively in C.
A set's saved table size is a hint, used only when it is one such a set can have (at most
eight times its items). ``defaultdict`` factories come from a fixed allowlist.
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

Modules
-------
* `_types`: what both sides share: `JSON`, the errors, class references and their lookup,
  dataclass and model specs, attribute-name rules, iterator kinds, the depth bound.
* `_sets`: rebuilding a set in its saved iteration order (CPython's probing, simulated).
* `_leaves`: the leaf tags (scalars, bytes, range, date and time, decimal, UUID): each tag's
  encoder and decoder in one place.
* `_encode`: the `Encoder`, and why a value that has no handler cannot be saved.
* `_reasons`: what to do instead, for common types that cannot be saved.
* `_fields`: a pydantic model field the codec cannot save itself, as the model's own data.
* `_decode`: the `Decoder`, and the rebuilding of user types.
* `_functions`: nested functions of durable programs and closure cells (both sides), and
  `register_functions`, the hook through which the runtime names each program's sites.

`_leaves`, `_fields`, `_functions`, `_encode` and `_decode` import `_types`; `_sets` and
`_reasons` import nothing; `_encode` and `_decode` import `_leaves`, `_functions` and `_sets`
(`_encode` also `_reasons` and `_fields`); `_encode` and `_decode` never import each other.
"""

from ._decode import Decoder
from ._encode import Encoder
from ._functions import register_functions
from ._spare import decoding, encoding
from ._types import (
    JSON,
    MAX_JSON_DEPTH,
    DecodeError,
    UnencodableValue,
    allow_class_reference,
    restrict_classes,
)

__all__ = [
    "JSON",
    "MAX_JSON_DEPTH",
    "DecodeError",
    "Decoder",
    "Encoder",
    "UnencodableValue",
    "allow_class_reference",
    "decoding",
    "encoding",
    "register_functions",
    "restrict_classes",
]
