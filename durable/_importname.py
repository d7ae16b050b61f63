"""The importable name of the module run as ``__main__``: what saved names use instead.

Saved names (programs, steps, classes saved by reference) are ``"module:qualname"``. A script
run as ``python orders.py`` has the module name ``__main__``, which names a different module
in every process: a worker that does ``import orders`` could never find ``__main__:fulfil``.
So wherever a saved name would say ``__main__``, it says the name under which ``import``
finds the same file instead (`saved_module`), and a lookup of that name in the process that
runs the file as ``__main__`` gives back ``__main__`` itself (`loaded_module`), never a
second copy of the module.

How the name is derived (`main_module_name`, `module_name_of_file`):

1. ``python -m pkg.mod``: ``__main__.__spec__.name`` is the real name (``pkg.mod``).
2. A file whose folder is a package (holds ``__init__.py``): its name inside the package,
   from the first folder up that is not a package (``myapp/orders.py`` -> ``myapp.orders``;
   ``myapp/__init__.py`` -> ``myapp``). The script's own folder, first on ``sys.path``,
   would give it a second name that no importer of the package uses.
3. Any other file: its path relative to the longest ``sys.path`` entry that contains it
   (``python orders.py`` -> ``orders``, its folder being ``sys.path[0]``).

Every part must be an identifier and not a keyword; otherwise (``my-script.py``, a file
outside every ``sys.path`` entry, no file at all as in ``python -c``) there is no name and
``__main__`` stays: the caller warns and asks for an explicit name.

A leaf: it imports nothing of `durable`, so that the codec (pure model room) and the runtime
share it. It reads module namespaces without ``getattr`` (no module ``__getattr__`` runs)
and touches the file system only to look for ``__init__.py`` files, once per main module and
``sys.path`` (cached).
"""

from __future__ import annotations

import importlib.machinery
import keyword
import os
import sys
import types
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = [
    "is_module_name",
    "loaded_module",
    "main_module_name",
    "main_name_of",
    "module_name_of_file",
    "saved_module",
    "saved_name",
]

MAIN: Final = "__main__"
_MODULE_DICT: Final[Any] = vars(types.ModuleType)["__dict__"]


def is_module_name(name: object) -> bool:
    """Whether `name` is a dotted name `import` accepts (``orders``, ``myapp.orders``)."""
    if type(name) is not str or not name:
        return False
    return all(p.isidentifier() and not keyword.iskeyword(p) for p in name.split("."))


def module_name_of_file(filename: str, path: Sequence[str]) -> str | None:
    """The dotted name under which `import` finds `filename` (rules 2 and 3 above), or None.

    A symbolic link is also followed: Python puts a linked script's real folder on
    ``sys.path``, while ``__file__`` keeps the link."""
    absolute = os.path.abspath(filename)
    name = _name_of_path(absolute, path)
    if name is None and os.path.islink(absolute):
        name = _name_of_path(os.path.realpath(absolute), path)
    return name


def _name_of_path(absolute: str, path: Sequence[str]) -> str | None:
    full = os.path.normcase(absolute)
    directory, base = os.path.split(full)
    stem, ext = os.path.splitext(base)
    if ext != ".py":
        return None
    parts = [] if stem == "__init__" else [stem]
    if _is_package(directory):
        while _is_package(directory):
            parent, folder = os.path.split(directory)
            if parent == directory:
                return None
            parts.insert(0, folder)
            directory = parent
    else:
        root = _longest_root(directory, path)
        if root is None:
            return None
        parts[:0] = [p for p in directory[len(root) :].split(os.sep) if p]
    name = ".".join(parts)
    return name if is_module_name(name) else None


def _is_package(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, "__init__.py"))


def _longest_root(directory: str, path: Sequence[str]) -> str | None:
    best: str | None = None
    for entry in path:
        if not isinstance(entry, str):
            continue
        root = os.path.normcase(os.path.abspath(entry or os.curdir))
        inside = directory == root or directory.startswith(root.rstrip(os.sep) + os.sep)
        if inside and (best is None or len(root) > len(best)):
            best = root
    return best


def _name_of_namespace(namespace: Mapping[str, object]) -> str | None:
    spec = namespace.get("__spec__")
    if isinstance(spec, importlib.machinery.ModuleSpec):
        name = spec.name
        if name != MAIN and is_module_name(name):
            return name
    filename = namespace.get("__file__")
    if type(filename) is not str:
        return None
    return module_name_of_file(filename, sys.path)


# (main module, its spec, its file, sys.path) -> the name derived for them
_cache: tuple[tuple[object, ...], str | None] | None = None


def main_name_of(namespace: Mapping[str, object]) -> str | None:
    """The importable name of the module whose globals are `namespace` (run as ``__main__``)."""
    global _cache
    key = (id(namespace), namespace.get("__spec__"), namespace.get("__file__"), *sys.path)
    cached = _cache
    if cached is not None and cached[0] == key:
        return cached[1]
    name = _name_of_namespace(namespace)
    _cache = (key, name)
    return name


def main_module_name() -> str | None:
    """The importable name of ``sys.modules["__main__"]``, or None when it has none."""
    main = sys.modules.get(MAIN)
    if not issubclass(type(main), types.ModuleType):
        return None
    namespace: Mapping[str, object] = _MODULE_DICT.__get__(main)
    return main_name_of(namespace)


def saved_module(module: str, namespace: Mapping[str, object] | None = None) -> str:
    """The module name a saved reference uses for `module`: itself, except for ``__main__``
    (the name derived from `namespace`, its globals, default ``sys.modules["__main__"]``),
    which stays ``__main__`` only when no importable name can be derived."""
    if module != MAIN:
        return module
    name = main_module_name() if namespace is None else main_name_of(namespace)
    return MAIN if name is None else name


def saved_name(obj: Any) -> str:
    """``"module:qualname"`` of a function or class as saved references name it."""
    namespace = getattr(obj, "__globals__", None)
    module = saved_module(obj.__module__, namespace if isinstance(namespace, dict) else None)
    return f"{module}:{obj.__qualname__}"


def loaded_module(name: str) -> object:
    """The module a saved reference to `name` means in this process, or None: the
    ``__main__`` module when `name` is its derived name (a second import of its file would
    be another module, with other classes), else ``sys.modules[name]``."""
    main = sys.modules.get(MAIN)
    if name != MAIN and main is not None and main_module_name() == name:
        return main
    return sys.modules.get(name)
