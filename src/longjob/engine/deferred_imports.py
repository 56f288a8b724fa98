"""Imports moto's engine makes at start-up for services a job never uses, deferred.

moto's task-service factory imports its AWS Batch integration when it is itself imported,
and that pulls in moto.batch and moto.ec2: most of the engine's import time (about 0.9 s
of 1.5 s, measured with ``python -X importtime``). The module is replaced by a stand-in
until a Batch task state is really built: then the real one is imported and used.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

BATCH_SERVICE = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch"
)


def _real_batch_service() -> Any:
    if isinstance(sys.modules.get(BATCH_SERVICE), _Deferred):
        del sys.modules[BATCH_SERVICE]
    return importlib.import_module(BATCH_SERVICE)


class _Deferred(types.ModuleType):
    """Stands for the Batch service module until its class is first instantiated."""


class StateTaskServiceBatch:
    """Builds moto's real StateTaskServiceBatch (importing it) when a state needs one."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return _real_batch_service().StateTaskServiceBatch(*args, **kwargs)


def defer_batch() -> None:
    """Installs the stand-in, unless moto's module is already loaded."""
    if BATCH_SERVICE in sys.modules:
        return
    stand_in = _Deferred(BATCH_SERVICE)
    stand_in.StateTaskServiceBatch = StateTaskServiceBatch  # type: ignore[attr-defined]
    sys.modules[BATCH_SERVICE] = stand_in
