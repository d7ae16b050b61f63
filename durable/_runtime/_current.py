"""`durable.current_instance()`: which instance the running code belongs to.

Built on the engine's `current_run` context variable, set for the whole of a run: the durable
function, its nested durable calls, and the steps it awaits (async steps run on the event
loop in the same context; plain ``def`` steps run in a worker thread under a copy of it). A
child of `durable.gather` sees its own (child) instance.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._engine import current_run

__all__ = ["InstanceInfo", "current_instance"]


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """The running instance: its id, the name of its program (``module:qualname`` of the root
    durable function) and ``seq``, the number of its last saved checkpoint."""

    instance_id: str
    program: str
    seq: int


def current_instance() -> InstanceInfo:
    """The instance whose code is running; LookupError outside a durable function or step."""
    run = current_run.get(None)
    if run is None:
        raise LookupError(
            "durable.current_instance() is only available inside a durable function or a step "
            "it awaits"
        )
    return InstanceInfo(run.instance_id, run.program.name, run.seq)
