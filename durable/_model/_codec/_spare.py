"""`encoding()` and `decoding()`: an `Encoder` or a `Decoder` for one session, reused within a
thread.

Building either allocates some thirty objects (its handler table of bound methods and
partials). The runtime builds one per checkpoint and one per resume, and in a `durable.Worker`
that was half of what the garbage collector was made to look at: reusing them halved the
collections and gave about a tenth more cycles per second (`benchmarks/bench_worker.py`).

A session (``with encoding() as encoder:``) takes the thread's spare, or builds one when the
spare is taken (a value's own code saving something while a session is open); when the
session ends the encoder is reset (every id forgotten, so nothing it met is kept alive) and
becomes the thread's spare. Rejected: one encoder per run, kept between checkpoints (a worker
run makes one checkpoint, so it saved nothing there).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from ._decode import Decoder
from ._encode import Encoder

__all__ = ["decoding", "encoding"]

_spares = threading.local()


@contextlib.contextmanager
def encoding() -> Iterator[Encoder]:
    """An encoder whose ids live for this session (module docstring)."""
    encoder: Encoder | None = getattr(_spares, "encoder", None)
    _spares.encoder = None
    if encoder is None:
        encoder = Encoder()
    try:
        yield encoder
    finally:
        encoder._reset()
        _spares.encoder = encoder


@contextlib.contextmanager
def decoding() -> Iterator[Decoder]:
    """A decoder whose ids live for this session (module docstring)."""
    decoder: Decoder | None = getattr(_spares, "decoder", None)
    _spares.decoder = None
    if decoder is None:
        decoder = Decoder()
    try:
        yield decoder
    finally:
        decoder._reset()
        _spares.decoder = decoder
