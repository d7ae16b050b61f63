"""The dashboard's list page over a store of 10,000 instances (target: under one second).

A few real instances of each kind (waiting for an event with a deadline, a timer, a step
retry, children; failed; completed) are run through the public API, then copied under new
ids (snapshot bytes with the new id, the same header) until the store holds ``--count``
instances. The pages are fetched through the ASGI app in this process (httpx's
ASGITransport), on `SQLiteStateStore` and `DiskStateStore`:

* the first page (50 rows), unfiltered;
* a page filtered by status (``failed``: one instance in ten) and one by program;
* a deep page (``after=`` the 9,000th id);
* a filter nothing matches (``cancelled``): the worst case, every header is looked at;
* one instance page.

Each figure is the median of ``--repeat`` fetches, in milliseconds. Nothing is asserted.

    .venv/bin/python benchmarks/bench_dashboard.py [--count 10000] [--repeat 5] [--dir DIR]
        [--stores sqlite,disk]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import time
from typing import Any

import anyio
import httpx

sys.path[:0] = [str(pathlib.Path(__file__).resolve().parents[1] / "tests")]

from programs.dashboard_flows import populate  # noqa: E402

from durable import DiskStateStore, SQLiteStateStore, StateStore  # noqa: E402
from durable._web import create_app, instance_url  # noqa: E402

# Of every 20 copies: which original each copies (the mix of kinds in the store).
MIX = ["quick-1"] * 8 + ["approval-1"] * 4 + ["nap-1"] * 3 + ["billing-1"] * 2
MIX += ["broken-1"] * 2 + ["fanout-1"]


def fill(store: StateStore, count: int) -> None:
    """`count` instances: the originals, then copies of them under new ids."""
    anyio.run(populate, store)
    originals = {i: store.read(i) for i in set(MIX)}
    for n in range(count - len(store.list_instances())):
        source = originals[MIX[n % len(MIX)]]
        assert source.header is not None and source.data is not None
        new_id = f"inst-{n:05d}"
        data: dict[str, Any] = json.loads(source.data)
        data["instance_id"] = new_id
        store.commit(new_id, 0, source.header, json.dumps(data).encode())


async def timings(store: StateStore, repeat: int) -> dict[str, float]:
    ids = store.list_instances()
    pages = {
        "first page": "/",
        "status=failed": "/?status=failed",
        "program filter": "/?program=programs.dashboard_flows:_nap",
        "deep page": "/?after=" + ids[9 * len(ids) // 10],
        "no match (worst)": "/?status=cancelled",
        "instance page": instance_url("inst-00020"),
    }
    transport = httpx.ASGITransport(app=create_app(store))
    found = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for name, url in pages.items():
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = await client.get(url)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, (url, response.status_code)
            found[name] = statistics.median(times) * 1000
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=pathlib.Path, default=None)
    parser.add_argument("--stores", default="sqlite,disk", help="comma-separated: sqlite,disk")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        root = pathlib.Path(scratch)
        stores: dict[str, Any] = {
            "sqlite": lambda: SQLiteStateStore(root / "bench.db", synchronous="NORMAL"),
            "disk": lambda: DiskStateStore(root / "disk"),
        }
        results = {}
        for name in args.stores.split(","):
            make = stores[name]
            store = make()
            started = time.perf_counter()
            fill(store, args.count)
            built = time.perf_counter() - started
            print(f"{name}: {len(store.list_instances())} instances built in {built:.1f} s")
            store.close()
            store = make()  # a fresh object: no cache warmed by the filling
            results[name] = anyio.run(timings, store, args.repeat)
            store.close()
    print(f"\nlist page of {args.count} instances, median of {args.repeat} (ms):")
    names = list(next(iter(results.values())))
    print(f"{'':20}" + "".join(f"{store:>10}" for store in results))
    for page in names:
        print(f"{page:20}" + "".join(f"{results[s][page]:10.1f}" for s in results))


if __name__ == "__main__":
    main()
