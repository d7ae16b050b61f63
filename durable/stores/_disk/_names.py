"""File names of the disk store: the injective, path-safe encoding of ids.

``<enc>`` keeps the bytes ``[a-z0-9_-]`` of the id's UTF-8 encoding (``surrogatepass``, so
lone surrogates round-trip) and writes every other byte as ``%XX`` with *uppercase* hex. The
encoding is injective even on case-insensitive file systems: a lowercase letter is always
literal and an uppercase letter is always a hex digit, so ``"a"`` -> ``a`` and ``"A"`` ->
``%41`` cannot fold together. Event ids and event names are encoded the same way inside the
journal.
"""

from __future__ import annotations

import hashlib
import urllib.parse

_SAFE_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_-")
# _ENCODE_TABLE[b] is the text byte b becomes in a file name.
_ENCODE_TABLE = tuple(chr(b) if b in _SAFE_BYTES else f"%{b:02X}" for b in range(256))
MAX_ENCODED = 180  # longer encodings use the hashed name (file names are limited to 255)

JOURNAL_SUFFIX = ".log"
LOCK_SUFFIX = ".lock"  # held by every writer of the journal
HISTORY_SUFFIX = ".history"
INSTANCE_PREFIX = "i_"
HASHED_PREFIX = "h_"
TEMP_PREFIX = ".tmp-"  # never produced by the encoding: "." is always escaped
TEMP_SUFFIX = ".tmp"


def utf8(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")


def encode(key: str) -> str:
    """The injective, case-insensitively distinct, path-safe text for ``key``."""
    return "".join(map(_ENCODE_TABLE.__getitem__, utf8(key)))


def encoded(key: str) -> bytes:
    """`encode` as ASCII bytes, for journal records."""
    return encode(key).encode("ascii")


def decode(text: str) -> str | None:
    """The key whose `encode` is ``text``, or ``None`` if there is none."""
    try:
        key = urllib.parse.unquote_to_bytes(text).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None
    # unquote is lenient ("%zz", "%61", "A" pass); only the canonical form is ours.
    return key if encode(key) == text else None


def stem(key: str) -> str:
    """``i_<enc>``, or ``h_<sha256>`` when ``<enc>`` is too long for a file name."""
    text = encode(key)
    if len(text) <= MAX_ENCODED:
        return INSTANCE_PREFIX + text
    return HASHED_PREFIX + hashlib.sha256(utf8(key)).hexdigest()


def id_of_journal(name: str) -> str | None:
    """The id whose journal is called ``name`` if the name alone tells (``i_<enc>.log``)."""
    if not (name.startswith(INSTANCE_PREFIX) and name.endswith(JOURNAL_SUFFIX)):
        return None
    key = decode(name[len(INSTANCE_PREFIX) : -len(JOURNAL_SUFFIX)])
    return key if key is not None and stem(key) + JOURNAL_SUFFIX == name else None


def is_journal(name: str) -> bool:
    """Whether ``name`` is shaped like a journal of this store (``i_*.log`` or ``h_*.log``)."""
    return name.endswith(JOURNAL_SUFFIX) and name.startswith((INSTANCE_PREFIX, HASHED_PREFIX))


def is_temp(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)
