"""The only room that runs user code: programs, runs and frames, upgrades, the backend."""

from __future__ import annotations

from ._backend import DurableBackend, OrchestrationBackend
from ._check import check
from ._engine import DurableRuntime
from ._program import CodeBlock, DurableProgram, make_durable
from ._upgrade import CheckReport, SavedFrame

__all__ = [
    "CheckReport",
    "CodeBlock",
    "DurableBackend",
    "DurableProgram",
    "DurableRuntime",
    "OrchestrationBackend",
    "SavedFrame",
    "check",
    "make_durable",
]
