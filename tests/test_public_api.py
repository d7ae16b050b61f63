"""The public surface, pinned: moving code between private modules must not change it."""

from __future__ import annotations

import durable
import durable.testing

SEED = {
    "DurableRuntime",
    "CallStack",
    "FunctionCall",
    "CodeBlock",
    "OrchestrationBackend",
    "DurableBackend",
    "StateStore",
    "InMemoryStateStore",
    "DiskStateStore",
    "DurableAstTransformer",
    "make_durable",
    "DurableProgram",
    "PauseForEventException",
    "DurableError",
}

PUBLIC = SEED | {
    "Snapshot",
    "Suspended",
    "SavedFrame",
    "check",
    "CheckReport",
    "EVENTS",
    "UnsupportedSyntaxError",
    "NoSourceError",
    "UnserializableStateError",
    "SnapshotValidationError",
    "IncompatibleSnapshotError",
    "InvalidInstanceIdError",
    "StoreError",
    "ConcurrentResumeError",
}


def test_all_holds_the_public_names() -> None:
    assert set(durable.__all__) >= PUBLIC
    assert len(durable.__all__) == len(set(durable.__all__))


def test_every_public_name_resolves_and_says_durable() -> None:
    for name in durable.__all__:
        obj = getattr(durable, name)
        module = getattr(obj, "__module__", None)
        if isinstance(obj, type) or callable(obj):
            assert module is not None and not module.startswith("durable._"), (name, module)


def test_errors_share_one_root() -> None:
    for name in durable.__all__:
        obj = getattr(durable, name)
        if isinstance(obj, type) and name.endswith("Error"):
            assert issubclass(obj, durable.DurableError), name


def test_testing_helpers() -> None:
    assert callable(durable.testing.capture_events)
    assert durable.testing.InMemoryStateStore is durable.InMemoryStateStore


def test_a_pause_is_a_suspension_not_an_error() -> None:
    assert issubclass(durable.PauseForEventException, durable.Suspended)
    assert not issubclass(durable.Suspended, durable.DurableError)
    e = durable.PauseForEventException("approve")
    assert (e.event, e.instance_id, e.wake_at) == ("approve", None, None)
