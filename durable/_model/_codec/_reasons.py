"""What to do instead, for values of common types the codec refuses to save.

`reason_for(t)` gives the advice for a type of the standard library or of a common library
(matched by module and name, so that nothing is imported to check), or None; the encoder's
`_refusal_reason` asks it before falling back to its generic advice.
"""

from __future__ import annotations

from typing import Final

_RECONNECT: Final = (
    "{name} is a live connection and cannot be saved; open it again after the pause (or keep "
    "it at module level, or in a context manager that ends before the pause)"
)

# "module.qualname" -> advice; the first match along the class's MRO wins.
_BY_NAME: Final[dict[str, str]] = {
    "logging.Logger": (
        "loggers cannot be saved; create them at module level (logging.getLogger(__name__)) "
        "or get them again after the pause"
    ),
    "logging.LoggerAdapter": "logger adapters cannot be saved; create them again after the pause",
    "logging.Handler": "logging handlers cannot be saved; configure logging at module level",
    "_io.StringIO": "a StringIO cannot be saved; keep its text (buf.getvalue()) in a str instead",
    "_io.BytesIO": "a BytesIO cannot be saved; keep its bytes (buf.getvalue()) instead",
    "builtins.memoryview": "memory views cannot be saved; keep bytes(view) instead",
    "builtins.object": (
        "a bare object() cannot be saved (it is often used as a sentinel); use an Enum member "
        "or None instead"
    ),
    "builtins.slice": "slices cannot be saved; keep (start, stop, step) and rebuild the slice",
    "builtins.property": "properties cannot be saved; keep only data in variables",
    "types.SimpleNamespace": "SimpleNamespace cannot be saved; use a dataclass or a dict",
    "collections.ChainMap": "ChainMap cannot be saved; use a dict (dict(chain)) or its maps",
    "re.Match": "match objects cannot be saved; keep m.group(...) or m.span() instead",
    "subprocess.Popen": (
        "a running process cannot be saved; wait for it before the pause, or keep its pid and "
        "check on it after"
    ),
    "mmap.mmap": "memory maps cannot be saved; close them before the pause and map again after",
    "ssl.SSLContext": "SSL contexts cannot be saved; create them again after the pause",
    "tempfile.TemporaryDirectory": (
        "a TemporaryDirectory cannot be saved (it is deleted when collected); keep its path "
        "(a pathlib.Path can be saved) and manage its lifetime yourself"
    ),
    "sqlite3.Connection": _RECONNECT.format(name="a sqlite3 connection"),
    "sqlite3.Cursor": "cursors cannot be saved; fetch the rows you need (a list) before the pause",
    "http.client.HTTPConnection": _RECONNECT.format(name="an HTTP connection"),
    "weakref.ReferenceType": "weak references cannot be saved; keep the object itself or an id",
    "weakref.ProxyType": "weak proxies cannot be saved; keep the object itself or an id",
    "_contextvars.ContextVar": "context variables cannot be saved; define them at module level",
    "_contextvars.Context": "contexts cannot be saved; copy the values you need into variables",
    "_contextvars.Token": "context variable tokens cannot be saved; reset the variable first",
    "queue.Queue": "queues cannot be saved; keep their items in a list (or collections.deque)",
    "_queue.SimpleQueue": "queues cannot be saved; keep their items in a list or a deque",
    "zipfile.ZipFile": "open archives cannot be saved; close it before the pause, reopen after",
    "tarfile.TarFile": "open archives cannot be saved; close it before the pause, reopen after",
    "selectors.BaseSelector": "selectors cannot be saved; create them again after the pause",
}

# Top-level package -> advice, for libraries whose values hold live connections.
_BY_PACKAGE: Final[dict[str, str]] = {
    **dict.fromkeys(
        (
            "psycopg",
            "psycopg2",
            "asyncpg",
            "aiosqlite",
            "pymysql",
            "MySQLdb",
            "sqlalchemy",
            "pymongo",
            "motor",
            "redis",
            "aioredis",
        ),
        _RECONNECT.format(name="a database client, connection or session"),
    ),
    **dict.fromkeys(
        ("httpx", "requests", "aiohttp", "urllib3", "botocore", "boto3", "grpc"),
        _RECONNECT.format(name="a network client or session"),
    ),
}


def reason_for(t: type) -> str | None:
    """Advice for values of type `t`, or None when there is none more specific."""
    if t is object:
        return _BY_NAME["builtins.object"]
    for base in t.__mro__[:-1]:
        reason = _BY_NAME.get(f"{base.__module__}.{base.__qualname__}")
        if reason is not None:
            return reason
    module = getattr(t, "__module__", None)
    if type(module) is str:
        return _BY_PACKAGE.get(module.partition(".")[0])
    return None
