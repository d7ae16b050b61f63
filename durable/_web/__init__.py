"""The read-only web dashboard (``durable dashboard``): an ASGI application over any
`StateStore` that lists instances and shows one. It needs the ``web`` extra (Starlette and
Jinja; uvicorn serves it). It only reads the store and never runs durable code.

An edge room: it imports the model and the stores; only the CLI imports it.
"""

from __future__ import annotations

from ._app import create_app, instance_url

__all__ = ["create_app", "instance_url"]
