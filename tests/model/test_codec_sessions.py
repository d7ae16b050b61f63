"""`encoding()` / `decoding()`: the runtime's reusable codec sessions (`_codec/_spare.py`).

A session must behave exactly as a new `Encoder` / `Decoder`: ids never reach from one session
into the next, nothing encoded or decoded is kept alive once the session ends, a session opened
inside another gets its own object, and each thread has its own."""

from __future__ import annotations

import dataclasses
import gc
import threading
import weakref

from durable._model._codec import Decoder, Encoder, decoding, encoding


@dataclasses.dataclass
class Box:
    """A saveable value that can be weakly referenced."""

    items: list[int]


def test_a_session_encodes_as_a_new_encoder_does_and_forgets_its_ids() -> None:
    shared = [1, 2, 3]
    value = {"a": shared, "b": shared}
    fresh = Encoder().encode(value, "value")
    with encoding() as encoder:
        assert encoder.encode(value, "value") == fresh
        again = encoder.encode(shared, "again")  # same session: a reference to the first
        assert isinstance(again, dict) and "$ref" in again
    with encoding() as encoder:  # a new session: no id survives from the last one
        # (were the last session's ids kept, this would be a bare {"$ref": ...})
        assert encoder.encode(shared, "again") == Encoder().encode(shared, "again")


def test_a_session_decodes_as_a_new_decoder_does() -> None:
    data = Encoder().encode({"a": [1, 2], "b": (3, "x")}, "value")
    with decoding() as decoder:
        first = decoder.decode(data)
    with decoding() as decoder:
        second = decoder.decode(data)
    assert first == second == Decoder().decode(data) == {"a": [1, 2], "b": (3, "x")}
    assert first["a"] is not second["a"]


def test_nothing_encoded_in_a_session_is_kept_alive_after_it() -> None:
    box = Box([1, 2])
    ref = weakref.ref(box)
    with encoding() as encoder:
        encoder.encode([box, box], "boxes")
    del box
    gc.collect()
    assert ref() is None


def test_a_session_inside_a_session_gets_its_own_encoder() -> None:
    with encoding() as outer:
        outer.encode([1], "x")
        with encoding() as inner:
            assert inner is not outer
            inner.encode([2], "y")
        # the outer session's ids are intact after the inner one ended
        assert "$ref" not in str(outer.encode([3], "z"))
    with decoding() as a, decoding() as b:
        assert a is not b


def test_each_thread_has_its_own_spare() -> None:
    seen: list[Encoder] = []

    def use() -> None:
        with encoding() as encoder:
            seen.append(encoder)

    use()
    thread = threading.Thread(target=use)
    thread.start()
    thread.join()
    use()
    assert seen[0] is seen[2]  # reused within a thread
    assert seen[1] is not seen[0]
