"""``durable dashboard``: serve the read-only web dashboard (`durable._web`) over the store.

It needs the ``web`` extra (Starlette, Jinja, uvicorn); without it the command fails with
the line to install it. The server listens on ``--host`` (127.0.0.1: this machine only) and
``--port`` (0: a free port) until SIGINT or SIGTERM; its first line on stdout is its URL.
Like ``show``, it only reads the store and runs no durable code; ``--import MODULE`` lets it
decode the saved values of MODULE's types.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Callable

from ._common import CliError, Command, _Options, _Store, _where

__all__ = ["add_dashboard"]

INSTALL = "pip install 'durable-resume[web]' (in a clone: pip install -e '.[web]')"


def add_dashboard(command: Callable[[str, Command, str], argparse.ArgumentParser]) -> None:
    """Register ``dashboard`` through the parser's `command` helper."""
    cmd = command("dashboard", _cmd_dashboard, "serve a read-only web page over the store")
    cmd.add_argument("--port", type=_port, default=8080, help="the TCP port (default 8080)")
    cmd.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)"
    )


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return int(text)


def _cmd_dashboard(store: _Store, args: argparse.Namespace, opts: _Options) -> None:
    try:  # here, not at the top: every other command works without the extra
        import uvicorn

        from durable._web import create_app
    except ImportError as e:
        raise CliError(f"the dashboard needs the web extra ({e}): {INSTALL}") from None
    listener = _listen(args.host, args.port)
    port = listener.getsockname()[1]  # the one the system chose for --port 0
    url = f"http://{_host_in_url(args.host)}:{port}/"
    print(f"durable dashboard of {_where(store)} at {url} (read-only; Ctrl-C stops it)", flush=True)
    config = uvicorn.Config(create_app(store), log_level="warning", access_log=False)
    with listener:
        uvicorn.Server(config).run(sockets=[listener])


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, opened here so that a port in use is one line and exit 1."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as e:
        raise CliError(f"cannot listen on {host} port {port}: {e.strerror or e}") from None


def _host_in_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host
