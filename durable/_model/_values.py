"""The saved values of a snapshot, decoded for a person to read (``durable show``, the
dashboard): never to resume from.

One `Decoder` reads the values in the order the snapshot format defines (frames from the
root, each frame's locals then its value; then the result and the error), so an object shared
between frames decodes once and a ``$ref`` always meets its definition first. A value the
codec refuses (a class that is not allowed or cannot be imported, a damaged node) is kept as
its raw tagged JSON with the reason, and the next values still decode.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import JsonValue

from ._codec import DecodeError, Decoder
from ._snapshot import Snapshot

__all__ = ["DecodedFrame", "DecodedValue", "DecodedValues", "decode_values"]


@dataclass(frozen=True, slots=True)
class DecodedValue:
    """One saved value: decoded (`problem` is None) or only its raw JSON (`problem` says why)."""

    raw: JsonValue
    value: object = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    locals: list[tuple[str, DecodedValue]]
    value: DecodedValue  # what the frame returned or raised, once it has


@dataclass(frozen=True, slots=True)
class DecodedValues:
    frames: list[DecodedFrame]  # root first, as in ``snapshot.call_stack.frames``
    result: DecodedValue
    error: DecodedValue

    @property
    def failures(self) -> list[str]:
        """Why each value that could not be decoded was not, in snapshot order."""
        values = [v for f in self.frames for v in (*(v for _, v in f.locals), f.value)]
        return [v.problem for v in (*values, self.result, self.error) if v.problem is not None]


def decode_values(snapshot: Snapshot) -> DecodedValues:
    """Every saved value of `snapshot`, decoded in the order the snapshot format defines."""
    decoder = Decoder()

    def decode(raw: JsonValue) -> DecodedValue:
        try:
            return DecodedValue(raw, decoder.decode(raw))
        except DecodeError as e:
            return DecodedValue(raw, problem=str(e))

    frames = []
    for frame in snapshot.call_stack.frames:
        variables = [(name, decode(value)) for name, value in frame.locals.items()]
        frames.append(DecodedFrame(variables, decode(frame.value)))
    return DecodedValues(frames, decode(snapshot.result), decode(snapshot.error))
