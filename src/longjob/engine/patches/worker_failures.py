"""An execution whose interpreter fails ends FAILED, instead of RUNNING for ever.

moto 5.2.5 runs each execution on a thread; an exception the interpreter does not turn into a
state failure (a bug in moto or in a patch) ends the thread and leaves the execution RUNNING,
so `longjob run` and `longjob test` waited for ever. Here the execution ends FAILED with
``States.Runtime`` and a cause that says the local engine failed and how.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

LOG = logging.getLogger(__name__)

_original_logic = ExecutionWorker._execution_logic


def _execution_logic(self: Any) -> None:
    try:
        _original_logic(self)
    except Exception as error:  # any failure must end the execution
        LOG.debug("the local engine failed while running an execution", exc_info=True)
        execution = self._execution_communication.execution
        execution.error = "States.Runtime"
        execution.cause = f"the local engine failed: {type(error).__name__}: {error}"
        execution.stop_date = datetime.datetime.now(tz=datetime.UTC)
        execution.exec_status = ExecutionStatus.FAILED


def install() -> None:
    ExecutionWorker._execution_logic = _execution_logic  # type: ignore[method-assign]


def uninstall() -> None:
    ExecutionWorker._execution_logic = _original_logic  # type: ignore[method-assign]
