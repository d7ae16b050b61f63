"""Deleting saved instances: `DurableBackend.delete` and `DurableBackend.purge`. No durable code
runs here; only headers and leases are read, never a snapshot.

**delete** removes one instance (with ``cascade``, its descendants too) through
`StateStore.delete`. It refuses, before deleting anything, unless ``force``:

* an instance that runs: its header says ``running``, or anyone holds an unexpired lease on it
  (`InstanceLeasedError`; the header alone, `RepairRefusedError`: a run that crashed midway
  stays ``running`` until resumed, so deleting it needs ``force``);
* a child (of `durable.gather`) whose parent is not finished: the parent waits for it, or may;
* a paused instance that waits for children, without ``cascade``: its children would be left
  with no root to run them (no worker claims a child: its root is what runs it).

``cascade`` finds the descendants through the ``parent`` of every header, reading all of
`StateStore.list_headers` once (the contract has no query by parent), and deletes children
before their parents: a crash midway leaves a smaller tree that the same call finishes.
A deleted instance's audit history goes with it; the deletion is an ``instance.deleted``
event (`durable.EVENTS`) with ``by`` and ``reason``.

**purge** finds, by pages of `StateStore.list_headers`, the instances whose status is one of
``status`` (default: completed) and whose last update is older than ``now - older_than`` (the
backend's clock), and deletes them unless ``dry_run`` (the default: it then only answers what
would go). It never deletes an instance under an unexpired lease; never a child whose root is
not finished, unless that root goes in the same purge; never an unfinished instance whose
awaited children stay. Running and paused instances go only when ``status`` names them.
Before deleting each one it reads the header again and skips an instance that changed since
it was listed; a run that saves between that read and the delete loses (its next commit finds
no instance): the contract's delete is unconditional.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from datetime import datetime, timedelta

from .._model import FINISHED, STATUSES, InstanceHeader
from ..errors import (
    InstanceLeasedError,
    InstanceNotFoundError,
    RepairRefusedError,
    StoreError,
)
from ..stores import StateStore

__all__ = ["delete_instances", "purge_instances"]

_PAGE = 500
HeaderOf = Callable[[str], InstanceHeader | None]


# -- delete ----------------------------------------------------------------------------------


def delete_instances(
    store: StateStore, now: datetime, instance_id: str, *, force: bool, cascade: bool
) -> list[str]:
    """Delete ``instance_id`` (and with ``cascade`` its descendants, children first); the ids
    that existed, in the order deleted. Refusals (module docstring) delete nothing."""
    header = _header(store, instance_id, force)
    doomed = [*_descendants(store, instance_id), instance_id] if cascade else [instance_id]
    if not force:
        for victim in doomed:
            _refuse_running(store, now, victim, header if victim == instance_id else None)
        if header is not None:
            _refuse_orphaning(store, instance_id, header, cascade)
    deleted = [victim for victim in doomed if store.delete(victim)]
    if not deleted:
        raise InstanceNotFoundError(f"instance {instance_id!r} has nothing stored; nothing deleted")
    return deleted


def _header(store: StateStore, instance_id: str, force: bool) -> InstanceHeader | None:
    """The header, or None; a damaged instance is deleted only with ``force``."""
    try:
        return store.read_header(instance_id)
    except StoreError as e:
        if force:
            return None
        raise StoreError(f"{e}; `delete --force` deletes it without reading it") from e


def _refuse_running(
    store: StateStore, now: datetime, instance_id: str, header: InstanceHeader | None
) -> None:
    lease = store.lease(instance_id)
    if lease is not None and lease.until > now:
        raise InstanceLeasedError(
            f"instance {instance_id!r} is running: worker {lease.owner!r} holds it until "
            f"{lease.until.isoformat()}; delete it when it has stopped, or with --force "
            "(force=True). Nothing was deleted"
        )
    header = header if header is not None else _quiet(store.read_header)(instance_id)
    if header is not None and header.status == "running":
        raise RepairRefusedError(
            f"instance {instance_id!r} is running (its last checkpoint says so and no worker "
            "holds it: it may have crashed mid-run, or run without a lease); delete it with "
            "--force (force=True) if nothing runs it. Nothing was deleted"
        )


def _refuse_orphaning(
    store: StateStore, instance_id: str, header: InstanceHeader, cascade: bool
) -> None:
    parent = None if header.parent is None else _quiet(store.read_header)(header.parent)
    if parent is not None and parent.status not in FINISHED:
        raise RepairRefusedError(
            f"instance {instance_id!r} is a child of {header.parent!r}, which is "
            f"{parent.status} and waits for it; delete {header.parent!r} with --cascade "
            "(cascade=True), or this one alone with --force. Nothing was deleted"
        )
    if header.status == "paused" and header.children and not cascade:
        names = ", ".join(map(repr, header.children))
        raise RepairRefusedError(
            f"instance {instance_id!r} waits for its children {names}, which only it runs; "
            "delete them with it with --cascade (cascade=True), or it alone with --force. "
            "Nothing was deleted"
        )


def _descendants(store: StateStore, instance_id: str) -> list[str]:
    """Every instance below ``instance_id`` through ``parent``, children before parents."""
    children: dict[str, list[str]] = {}
    for child, header in _pages(store, None, None):
        if header is not None and header.parent is not None:
            children.setdefault(header.parent, []).append(child)
    order: list[str] = []
    seen = {instance_id}

    def visit(parent: str) -> None:
        for child in children.get(parent, ()):
            if child not in seen:
                seen.add(child)
                visit(child)
                order.append(child)

    visit(instance_id)
    return order


# -- purge -----------------------------------------------------------------------------------


def purge_instances(
    store: StateStore,
    now: datetime,
    *,
    status: Collection[str],
    older_than: timedelta,
    program: str | None,
    dry_run: bool,
) -> list[str]:
    """The instances purge deletes (module docstring), children first; deleted unless
    ``dry_run``."""
    statuses = _statuses(status)
    if older_than < timedelta(0):
        raise ValueError(f"older_than must be a timedelta >= 0, not {older_than!r}")
    cutoff = now - older_than
    found = {
        instance_id: header
        for wanted in statuses
        for instance_id, header in _pages(store, wanted, program)
        if header is not None
        and header.updated_at < cutoff
        and not _leased(store, now, instance_id)
    }
    header_of = _cached(store, found)
    _settle(found, header_of)
    order = sorted(found, key=lambda i: (-_depth(i, header_of), i))
    if dry_run:
        return order
    return [i for i in order if _unchanged(store, now, i, found[i]) and store.delete(i)]


def _statuses(status: Collection[str]) -> tuple[str, ...]:
    statuses = (status,) if isinstance(status, str) else tuple(status)
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown or not statuses:
        raise ValueError(
            f"status must name some of {', '.join(STATUSES)}; got {', '.join(map(repr, unknown))}"
        )
    return statuses


def _settle(found: dict[str, InstanceHeader], header_of: HeaderOf) -> None:
    """Drop from ``found`` what may not go: children whose live root stays, unfinished
    instances whose awaited children stay; until nothing more drops."""
    changed = True
    while changed:
        changed = False
        for instance_id, header in list(found.items()):
            stays = header.status not in FINISHED and any(c not in found for c in header.children)
            if stays or not _root_may_go(instance_id, found, header_of):
                del found[instance_id]
                changed = True


def _root_may_go(instance_id: str, found: dict[str, InstanceHeader], header_of: HeaderOf) -> bool:
    """Whether the root above ``instance_id`` is finished, gone, or purged with it."""
    root, header = _ancestry(instance_id, header_of)[-1]
    return header is None or header.status in FINISHED or root in found


def _depth(instance_id: str, header_of: HeaderOf) -> int:
    return len(_ancestry(instance_id, header_of)) - 1


def _ancestry(instance_id: str, header_of: HeaderOf) -> list[tuple[str, InstanceHeader | None]]:
    """``instance_id`` and its ancestors through ``parent``, up to the root (or the first one
    with no header), each with its header."""
    chain = [(instance_id, header_of(instance_id))]
    seen = {instance_id}
    while (parent := _parent(chain[-1][1])) is not None and parent not in seen:
        seen.add(parent)
        chain.append((parent, header_of(parent)))
    return chain


def _parent(header: InstanceHeader | None) -> str | None:
    return None if header is None else header.parent


def _unchanged(store: StateStore, now: datetime, instance_id: str, seen: InstanceHeader) -> bool:
    """Whether the instance is still as purge listed it, and nobody holds it."""
    current = _quiet(store.read_header)(instance_id)
    return current is not None and current.seq == seen.seq and not _leased(store, now, instance_id)


def _leased(store: StateStore, now: datetime, instance_id: str) -> bool:
    lease = store.lease(instance_id)
    return lease is not None and lease.until > now


# -- shared ----------------------------------------------------------------------------------


def _pages(
    store: StateStore, status: str | None, program: str | None
) -> Iterator[tuple[str, InstanceHeader | None]]:
    after = None
    while True:
        page = store.list_headers(status=status, program=program, after=after, limit=_PAGE)
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1][0]


def _quiet(read_header: HeaderOf) -> HeaderOf:
    """`read_header` with a damaged header read as none."""

    def read(instance_id: str) -> InstanceHeader | None:
        try:
            return read_header(instance_id)
        except StoreError:
            return None

    return read


def _cached(store: StateStore, known: dict[str, InstanceHeader]) -> HeaderOf:
    cache: dict[str, InstanceHeader | None] = dict(known)
    read = _quiet(store.read_header)

    def header_of(instance_id: str) -> InstanceHeader | None:
        if instance_id not in cache:
            cache[instance_id] = read(instance_id)
        return cache[instance_id]

    return header_of
