"""``python -m durable``: the command line (see `durable._cli`)."""

from __future__ import annotations

from durable._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
