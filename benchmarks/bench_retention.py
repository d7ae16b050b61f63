"""What retaining past checkpoints costs a checkpoint: commits with ``keep_checkpoints=10``
(the default) against ``keep_checkpoints=0``, on each store, printed as a ratio.

    .venv/bin/python benchmarks/bench_retention.py [commits]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from durable._model import InstanceHeader
from durable.stores import DiskStateStore, InMemoryStateStore, SQLiteStateStore, StateStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SNAPSHOT = b'{"seq": %d, "pad": "' + b"x" * 2000 + b'"}'  # about a 2 KB snapshot


def _store(kind: str, folder: Path, keep: int) -> StateStore:
    if kind == "memory":
        return InMemoryStateStore(keep_checkpoints=keep)
    if kind == "disk":
        return DiskStateStore(folder / f"d{keep}", keep_checkpoints=keep)
    folder.mkdir(parents=True, exist_ok=True)
    return SQLiteStateStore(folder / f"s{keep}.db", keep_checkpoints=keep)


def per_commit(kind: str, folder: Path, keep: int, commits: int) -> float:
    """Median seconds per commit over 5 rounds of `commits` checkpoints of one instance."""
    rounds = []
    for r in range(5):
        store = _store(kind, folder / f"{kind}{r}", keep)
        started = time.perf_counter()
        for seq in range(1, commits + 1):
            header = InstanceHeader(seq, "paused", "m:f", T0, T0)
            assert store.commit("i", seq - 1, header, SNAPSHOT % seq)
        rounds.append((time.perf_counter() - started) / commits)
        store.close()
    return statistics.median(rounds)


def main() -> None:
    commits = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("memory", "disk", "sqlite"):
            folder = Path(tmp)
            none = per_commit(kind, folder, 0, commits)
            ten = per_commit(kind, folder, 10, commits)
            print(
                f"{kind:7} keep 0: {none * 1e6:8.1f} µs  keep 10: {ten * 1e6:8.1f} µs  "
                f"ratio {ten / none:.2f}x"
            )


if __name__ == "__main__":
    main()
