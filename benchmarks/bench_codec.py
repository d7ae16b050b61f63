"""Micro-benchmark: the value codec against plain `json` on 1,000 small dicts.

Run from the repository root: ``.venv/bin/python benchmarks/bench_codec.py``. Prints the best
of several runs for each step and the codec/json ratios, all measured in this one run.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from durable._model._codec import Decoder, Encoder

ROUNDS = 30


def best_of(fn: Callable[[], object]) -> float:
    """The fastest of `ROUNDS` runs of `fn`, in seconds."""
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    data = [
        {"id": i, "name": f"item-{i}", "price": i * 0.25, "in_stock": i % 3 == 0, "note": None}
        for i in range(1000)
    ]
    encoded = Encoder().encode(data, "data")
    assert Decoder().decode(encoded) == data
    dumped = json.dumps(data)

    encode = best_of(lambda: Encoder().encode(data, "data"))
    decode = best_of(lambda: Decoder().decode(encoded))
    dumps = best_of(lambda: json.dumps(data))
    loads = best_of(lambda: json.loads(dumped))

    print(f"codec encode  {encode * 1e3:8.3f} ms   json.dumps {dumps * 1e3:8.3f} ms")
    print(f"codec decode  {decode * 1e3:8.3f} ms   json.loads {loads * 1e3:8.3f} ms")
    print(f"ratio encode/dumps {encode / dumps:5.1f}x   decode/loads {decode / loads:5.1f}x")
    size = len(json.dumps(encoded))
    print(f"size: codec tree as JSON {size} bytes, plain JSON {len(dumped)} bytes")


if __name__ == "__main__":
    main()
