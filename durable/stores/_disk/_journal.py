"""The journal format of the disk store: pure functions over bytes.

Every record is its payload between two copies of one 22-byte mark::

    b"<kind> <payload length: 10 digits> <crc32 of the payload: 8 hex digits>\\n"

The copy after the payload lets a writer check in O(1) that the file ends on a whole record.
Kinds (``<block>`` is ``b"<n>\\n"`` and n bytes; ``<history>`` a block of audit entries, each
ending in ``b"\\n"``; ids and names are written with the file-name encoding of `_names`):

* ``H`` head, always and only the first record: ``<32 hex digits new to the file> <enc(id)>``;
* ``C`` checkpoint: ``<enc(event id)>,...\\n<block: header JSON><history><snapshot>``;
* ``N`` event: ``<enc(event id)> <enc(event name)> <history><event data>``;
* ``D`` events deleted: ``<enc(event id)>,<enc(event id)>,...``;
* ``S`` legacy checkpoint without a header: ``<enc(event id)>,...\\n<history><snapshot>``
  (also what the seed method ``save`` writes);
* ``E`` legacy event without a name: ``<enc(event id)> <history><event data>`` (the name is
  then read from the JSON data, only when asked for).

A journal is a head, at least one more whole record (the file is created with them, in one
atomic step), more whole records, and perhaps a *torn tail*: the one append a crash
interrupted. A torn tail is a prefix of one well-formed record (its mark parses and fewer
bytes follow than it announces, or fewer than 22 bytes that begin a mark), or a last
whole-framed record whose payload fails its CRC; and no whole record ends the file after it.
Anything else is damage no crash can produce: `Corrupt`.
"""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Collection, Sequence

from ..._model import InstanceHeader
from .._contract import _check_history_entry
from ._names import decode, encoded

MARK = 22
HEAD = b"H"
CHECKPOINT = b"C"
NAMED_EVENT = b"N"
DELETE = b"D"
LEGACY_SNAPSHOT = b"S"
LEGACY_EVENT = b"E"
_KINDS = frozenset((HEAD, CHECKPOINT, NAMED_EVENT, DELETE, LEGACY_SNAPSHOT, LEGACY_EVENT))
_HEX = frozenset(b"0123456789abcdef")
_DIGITS = frozenset(b"0123456789")
# A save rewrites the journal (instead of appending) once it would hold more superseded bytes
# than this or than its live records, whichever is larger: appends stay one fsync, and the
# file stays within about twice its live records plus this.
COMPACT_BYTES = 32 * 1024


class Corrupt(Exception):
    """A journal holds something no crash can produce; the message says what and where."""


# ------------------------------------------------------------------------------------------
# Framing
# ------------------------------------------------------------------------------------------


def frame(kind: bytes, payload: bytes) -> bytes:
    mark = b"%s %010d %08x\n" % (kind, len(payload), zlib.crc32(payload))
    return mark + payload + mark


def head(instance_id: str) -> bytes:
    """A new head record: a journal file's first record, unique to that file."""
    return frame(HEAD, secrets.token_hex(16).encode("ascii") + b" " + encoded(instance_id))


def mark_at(raw: bytes, pos: int) -> tuple[bytes, int, int] | None:
    """``(kind, length, crc)`` of a well-formed mark at ``pos``, else ``None``."""
    mark = raw[pos : pos + MARK]
    if len(mark) != MARK or not _mark_prefix(mark, _KINDS):
        return None
    return mark[:1], int(mark[2:12]), int(mark[13:21], 16)


def _mark_prefix(raw: bytes, kinds: frozenset[bytes]) -> bool:
    """Whether ``raw`` (at most 22 bytes) begins a well-formed mark of one of ``kinds``."""
    for i, byte in enumerate(raw):
        if i == 0:
            ok = bytes((byte,)) in kinds
        elif i in (1, 12):
            ok = byte == 0x20
        elif i < 12:
            ok = byte in _DIGITS
        elif i < 21:
            ok = byte in _HEX
        else:
            ok = byte == 0x0A
        if not ok:
            return False
    return True


def record_at(raw: bytes, pos: int) -> tuple[bytes, int, int, int] | None:
    """``(kind, payload start, payload end, crc)`` of a whole record at ``pos``, else ``None``."""
    mark = mark_at(raw, pos)
    if mark is None:
        return None
    kind, length, crc = mark
    start = pos + MARK
    stop = start + length
    if raw[stop : stop + MARK] != raw[pos:start]:
        return None
    return kind, start, stop, crc


def last_record_start(tail_mark: bytes, size: int) -> int | None:
    """Where the record whose closing mark is ``tail_mark`` (the file's last 22 bytes) starts."""
    mark = mark_at(tail_mark, 0)
    if mark is None:
        return None
    start = size - 2 * MARK - mark[1]
    return start if start >= 0 else None


def whole_and_sound(record: bytes) -> bool:
    """Whether ``record`` is exactly one whole record whose payload passes its CRC."""
    found = record_at(record, 0)
    if found is None:
        return False
    _, start, stop, crc = found
    return stop + MARK == len(record) and zlib.crc32(record[start:stop]) == crc


# ------------------------------------------------------------------------------------------
# Payloads
# ------------------------------------------------------------------------------------------


def _block(data: bytes) -> bytes:
    return b"%d\n" % len(data) + data


def _split_block(rest: bytes, what: str) -> tuple[bytes, bytes]:
    """The block at the start of ``rest`` and what follows it."""
    digits, newline, tail = rest.partition(b"\n")
    if not newline or not digits.isdigit() or int(digits) > len(tail):
        raise Corrupt(f"a record holds a malformed {what}")
    n = int(digits)
    return tail[:n], tail[n:]


def _history_block(entries: Sequence[bytes]) -> bytes:
    return _block(b"".join(_check_history_entry(entry) + b"\n" for entry in entries))


def _split_history(rest: bytes) -> tuple[list[bytes], bytes]:
    block, tail = _split_block(rest, "block of audit entries")
    return block.split(b"\n")[:-1], tail


def _id_list(event_ids: Collection[str]) -> bytes:
    return b"".join(encoded(e) + b"," for e in event_ids)


def event_record(
    event_id: str, name: str | None, data: bytes, history: Sequence[bytes] = ()
) -> bytes:
    """An ``N`` record (an ``E`` one when the name is unknown: a legacy event kept)."""
    if name is None:
        return frame(LEGACY_EVENT, encoded(event_id) + b" " + _history_block(history) + data)
    payload = encoded(event_id) + b" " + encoded(name) + b" " + _history_block(history) + data
    return frame(NAMED_EVENT, payload)


def checkpoint_record(
    consumed: Collection[str],
    header: InstanceHeader | None,
    history: Sequence[bytes],
    snapshot: bytes,
) -> bytes:
    """A ``C`` record (an ``S`` one without a header)."""
    ids = _id_list(consumed) + b"\n"
    if header is None:
        return frame(LEGACY_SNAPSHOT, ids + _history_block(history) + snapshot)
    return frame(CHECKPOINT, ids + _block(header.to_json()) + _history_block(history) + snapshot)


def delete_record(event_ids: Collection[str]) -> bytes:
    return frame(DELETE, _id_list(event_ids))


# ------------------------------------------------------------------------------------------
# Parsing
# ------------------------------------------------------------------------------------------


class Journal:
    """A journal file parsed up to `end`: its head, header, snapshot and live events.

    Values are shared (a cache hands them out): never mutate one after it is built.
    """

    __slots__ = (
        "body",
        "end",
        "event_sizes",
        "events",
        "head",
        "header",
        "history",
        "key",
        "past",
        "snapshot",
        "snapshot_size",
    )

    def __init__(self) -> None:
        self.head = b""  # the head record's bytes: they identify this very file
        self.key: str | None = None  # the instance id the head names
        self.body = False  # whether a record follows the head
        self.header: InstanceHeader | None = None  # None: no snapshot, or a legacy one
        self.snapshot: bytes | None = None
        self.snapshot_size = 0  # bytes of the snapshot's record when rewritten
        self.events: dict[str, tuple[str | None, bytes]] = {}  # id -> (name, data)
        self.event_sizes: dict[str, int] = {}  # bytes of each live event's record
        self.history: list[bytes] = []  # audit entries not yet moved to the history file
        # Superseded checkpoints still in the file, oldest first: (header, snapshot, bytes of
        # its record when rewritten). The store keeps the last `keep_checkpoints` of them
        # through a rewrite; a legacy ``S`` checkpoint (no header) is never among them.
        self.past: list[tuple[InstanceHeader, bytes, int]] = []
        self.end = 0  # just past the last whole record; bytes after it are a torn append

    def copy(self) -> Journal:
        other = Journal()
        for slot in Journal.__slots__:
            setattr(other, slot, getattr(self, slot))
        other.events, other.event_sizes = dict(self.events), dict(self.event_sizes)
        other.history = list(self.history)
        other.past = list(self.past)
        return other

    def live_bytes(self) -> int:
        """The size of the journal rewritten with only what is still live."""
        return len(self.head) + self.snapshot_size + sum(self.event_sizes.values())

    def retained(self, keep: int) -> list[tuple[InstanceHeader, bytes, int]]:
        """The last `keep` superseded checkpoints, oldest first."""
        return self.past[len(self.past) - keep :] if keep > 0 else []

    def seq(self) -> int | None:
        """The stored checkpoint's ``seq`` from its header; None for a legacy snapshot."""
        if self.header is not None:
            return self.header.seq
        return 0 if self.snapshot is None else None

    def forget(self, event_ids: Collection[str]) -> None:
        for event_id in event_ids:
            self.events.pop(event_id, None)
            self.event_sizes.pop(event_id, None)


def parse_journal(raw: bytes, base: Journal | None = None) -> Journal:
    """Parse a journal file, or (with ``base``) the bytes appended to it after ``base.end``.

    A torn tail (module docstring) is left out: that append never returned. Anything else
    that is not whole records raises `Corrupt`.
    """
    journal = base.copy() if base is not None else Journal()
    offset = journal.end
    pos = 0
    torn = False  # the last record is whole but fails its checksum
    while not torn and (record := record_at(raw, pos)) is not None:
        kind, start, stop, crc = record
        if (kind == HEAD) != (offset + pos == 0):
            raise Corrupt(f"byte {offset + pos} holds a {kind.decode()} record out of place")
        if zlib.crc32(raw[start:stop]) == crc:
            _apply(journal, kind, raw[pos : stop + MARK], raw[start:stop])
            pos = stop + MARK
        elif stop + MARK == len(raw) and journal.body:
            torn = True  # the last record, torn by a crash during its write
        else:
            raise Corrupt(f"the record at byte {offset + pos} fails its checksum")
    if pos < len(raw) and not torn:
        _check_torn(raw, pos, offset, journal.body)
    if not journal.body:
        what = "is empty" if offset + len(raw) == 0 else "has no whole record after its head"
        raise Corrupt(f"it {what}; a journal is created whole, so no crash can leave this")
    journal.end = offset + pos
    return journal


def _check_torn(raw: bytes, pos: int, offset: int, body: bool) -> None:
    """Raise `Corrupt` unless ``raw[pos:]`` is a torn append (module docstring)."""
    rest = raw[pos:]
    where = f"byte {offset + pos}"
    if not body:
        raise Corrupt(f"unreadable bytes at {where}, where a whole record must be")
    if len(rest) < MARK:
        if _mark_prefix(rest, _KINDS - {HEAD}):
            return
        raise Corrupt(f"unreadable bytes at {where}")
    mark = mark_at(raw, pos)
    if mark is None:
        raise Corrupt(f"unreadable bytes at {where}")
    kind, length, _ = mark
    if kind == HEAD:
        raise Corrupt(f"{where} holds a H record out of place")
    if len(rest) >= 2 * MARK + length:
        raise Corrupt(f"the record at {where} is damaged (it is all there but not whole)")
    closing = rest[MARK + length :]
    if closing and not rest.startswith(closing):
        raise Corrupt(f"the record at {where} is damaged (its closing mark)")
    last = last_record_start(raw[-MARK:], len(raw))
    if last == pos:  # framed whole by the mark that ends the file: its opening mark is bad
        raise Corrupt(f"the record at {where} is damaged (its opening mark)")
    if last is not None and last > pos and whole_and_sound(raw[last:]):
        raise Corrupt(f"unreadable bytes at {where} before a later whole record")


def head_key(raw: bytes) -> str | None:
    """The id named by the head of journal bytes ``raw`` if that head is whole and sound."""
    found = record_at(raw, 0)
    if found is None or found[0] != HEAD or not whole_and_sound(raw[: found[2] + MARK]):
        return None
    return decode(raw[found[1] : found[2]].partition(b" ")[2].decode("ascii", "replace"))


def _decode_id(text: bytes, what: str) -> str:
    key = decode(text.decode("ascii", "replace"))
    if key is None:
        raise Corrupt(f"a record names an invalid {what} {text[:80]!r}")
    return key


def _apply(journal: Journal, kind: bytes, record: bytes, payload: bytes) -> None:
    if kind == HEAD:
        journal.head = record
        journal.key = _decode_id(payload.partition(b" ")[2], "instance id")
        return
    journal.body = True
    if kind in (NAMED_EVENT, LEGACY_EVENT):
        text, _, rest = payload.partition(b" ")
        event_id = _decode_id(text, "event id")
        name = None
        if kind == NAMED_EVENT:
            text, _, rest = rest.partition(b" ")
            name = _decode_id(text, "event name")
        entries, data = _split_history(rest)
        journal.history.extend(entries)
        journal.events[event_id] = (name, data)
        journal.event_sizes[event_id] = len(record) - (len(rest) - len(data)) + 2
    elif kind in (CHECKPOINT, LEGACY_SNAPSHOT):
        consumed, _, rest = payload.partition(b"\n")
        journal.forget(_ids(consumed))
        if journal.header is not None and journal.snapshot is not None:
            journal.past.append((journal.header, journal.snapshot, journal.snapshot_size))
        header_size = 0
        journal.header = None
        if kind == CHECKPOINT:
            raw_header, rest = _split_block(rest, "header")
            header_size = len(raw_header) + 8
            try:
                journal.header = InstanceHeader.from_json(raw_header)
            except ValueError as e:
                raise Corrupt(f"a checkpoint holds an invalid header ({e})") from None
        entries, journal.snapshot = _split_history(rest)
        journal.history.extend(entries)
        journal.snapshot_size = 2 * MARK + 3 + header_size + len(journal.snapshot)
    else:
        journal.forget(_ids(payload))


def _ids(payload: bytes) -> list[str]:
    # every id ends in a comma (ids may be "")
    return [_decode_id(text, "event id") for text in payload.split(b",")[:-1]]


# ------------------------------------------------------------------------------------------
# The history file: one "<crc32 hex> <entry>" line per entry
# ------------------------------------------------------------------------------------------


def history_line(entry: bytes) -> bytes:
    return b"%08x %s\n" % (zlib.crc32(entry), entry)


def parse_history_line(line: bytes) -> bytes | None:
    """The entry of a complete line, or ``None`` for a torn or corrupt one."""
    checksum, space, entry = line.partition(b" ")
    if not space or len(checksum) != 8 or checksum != b"%08x" % zlib.crc32(entry):
        return None
    return entry


def parse_history(raw: bytes | None) -> list[bytes]:
    """The entries of a history file; the piece after the last newline is empty or a torn
    append, never an entry."""
    lines = raw.split(b"\n")[:-1] if raw else []
    return [e for e in map(parse_history_line, lines) if e is not None]


def overlap(earlier: list[bytes], later: list[bytes]) -> int:
    """The largest k such that `earlier` ends with the first k entries of `later`: entries
    moved to the history file by a rewrite that crashed before replacing the journal."""
    for k in range(min(len(earlier), len(later)), 0, -1):
        if earlier[-k:] == later[:k]:
            return k
    return 0
