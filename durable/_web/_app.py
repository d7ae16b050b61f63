"""The ASGI application: two read-only pages over any `StateStore`.

Routes (GET and HEAD only; any other method is answered 405, so there is no write endpoint)::

    /                          the list: ?status= &program= &after=<cursor> &limit=
    /instances/<id>            one instance (the id percent-encoded as UTF-8 bytes)
    /instances?id=<id>         the same, for the ids a path cannot carry ("", ".", "..")

Ids are any ``str``, lone surrogates included. A URL carries the id's UTF-8 bytes with
``surrogatepass`` percent-encoded; the handlers decode the raw path and query bytes the same
way (the server's decoded ``path`` has already replaced such bytes). Pages are rendered by
Jinja with autoescaping, and every string is passed through `_printable` first, so an id
holding markup, quotes, newlines or surrogates is shown as text and never breaks the page.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from durable._model import STATUSES
from durable.errors import StoreError
from durable.stores import StateStore

from ._views import instance_view, list_rows

__all__ = ["create_app"]

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_PREFIX = b"/instances/"
_SURROGATE = re.compile("[\ud800-\udfff]")
_TEMPLATES = pathlib.Path(__file__).parent / "templates"


class _AnyText(Convertor[str]):
    """Matches any text, newlines included (an id may hold them)."""

    regex = "[\\s\\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("durable_id", _AnyText())


def create_app(store: StateStore) -> Starlette:
    """The dashboard over `store`: it only reads, and the caller keeps and closes the store."""
    templates = _environment()
    where = str(getattr(store, "path", type(store).__name__))  # shown in every page's banner

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(statuses=STATUSES, store=where, **context)
        return HTMLResponse(html, status_code=status)

    def list_page(request: Request) -> Response:
        query = _query(request)
        status = query.get("status") or None
        program = query.get("program") or None
        after = query.get("after")
        limit = _limit(query.get("limit"))
        if status is not None and status not in STATUSES:
            return page("error.html", 400, title="Bad filter", message=f"unknown status {status}")
        try:
            rows, more = list_rows(store, status, program, after, limit)
        except StoreError as e:
            return page("error.html", title="Cannot list the instances", message=str(e))
        filters = {"status": status or "", "program": program or ""}
        next_url = None
        if more and rows:
            next_url = "/?" + _encode({**filters, "after": rows[-1].instance_id, "limit": limit})
        first_url = "/?" + _encode({**filters, "limit": limit}) if after is not None else None
        return page(
            "list.html", rows=rows, filters=filters, next_url=next_url, first_url=first_url,
            limit=limit,
        )  # fmt: skip

    def by_path(request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
        raw = bytes(raw).split(b"?", 1)[0]
        if not raw.startswith(_PREFIX):
            raise HTTPException(404)
        return _instance(unquote_to_bytes(raw[len(_PREFIX) :]))

    def by_query(request: Request) -> Response:
        instance_id = _query(request).get("id")
        if instance_id is None:
            return page("error.html", 400, title="No id", message="pass ?id=INSTANCE_ID")
        return show(instance_id)

    def _instance(raw_id: bytes) -> Response:
        try:
            instance_id = raw_id.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise HTTPException(404) from None
        return show(instance_id)

    def show(instance_id: str) -> Response:
        try:
            view = instance_view(store, instance_id)
        except StoreError as e:  # a damaged record: shown in the page, not a server error
            return page("error.html", title="Cannot read the instance", message=str(e))
        if view is None:
            message = f"no instance {instance_id} in this store"
            return page("error.html", 404, title="Not found", message=message)
        return page("instance.html", view=view)

    async def not_found(request: Request, exc: Exception) -> Response:
        code = exc.status_code if isinstance(exc, HTTPException) else 500
        text = "this page does not exist" if code == 404 else "this page only reads (GET)"
        return page("error.html", code, title=f"Error {code}", message=text)

    routes = [
        Route("/", list_page, methods=["GET", "HEAD"]),
        Route("/instances", by_query, methods=["GET", "HEAD"]),
        Route("/instances/{rest:durable_id}", by_path, methods=["GET", "HEAD"]),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: not_found})


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        finalize=_printable,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["instance_url"] = instance_url
    return env


def _printable(value: object) -> object:
    """Lone surrogates cannot be sent as UTF-8: show each as its escape, ``\\udc80``."""
    if isinstance(value, str) and _SURROGATE.search(value):
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    return value


def instance_url(instance_id: str) -> str:
    """The URL of an instance page: ASCII, whatever the id holds."""
    encoded = quote(instance_id.encode("utf-8", "surrogatepass"), safe="")
    if instance_id in ("", ".", ".."):  # a path segment a browser would drop or resolve
        return "/instances?id=" + encoded
    return "/instances/" + encoded


def _encode(params: dict[str, object]) -> str:
    kept = {k: v for k, v in params.items() if v not in ("", None)}
    return urlencode(
        {k: str(v).encode("utf-8", "surrogatepass") for k, v in kept.items()}, quote_via=quote
    )


def _query(request: Request) -> dict[str, str]:
    """The query parameters, decoded as the URLs above encode them (surrogates kept)."""
    raw = request.scope.get("query_string", b"").decode("latin-1")
    return dict(parse_qsl(raw, keep_blank_values=True, errors="surrogatepass"))


def _limit(text: str | None) -> int:
    if text is None or not text.isdigit():
        return PAGE_SIZE
    return max(1, min(int(text), MAX_PAGE_SIZE))
