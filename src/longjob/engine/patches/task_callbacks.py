"""SendTaskFailure's cause reaches the waiting task, as on AWS.

SendTaskFailure takes an ``error`` and a ``cause`` (up to 32,768 characters) and the task
fails with both: a Catch sees them in its error output (docs/aws-facts.md). moto 5.2.5's
response handler passes the error on and drops the cause, so a callback task's Catch sees
``Cause`` missing. An approval stage's rejection names who rejected it in the cause.
"""

from __future__ import annotations

from moto.core.responses import EmptyResult
from moto.stepfunctions.responses import StepFunctionResponse

_original_send_task_failure = StepFunctionResponse.send_task_failure


def _send_task_failure(self: StepFunctionResponse) -> EmptyResult:
    # The engine's backend (moto's parser) takes the cause; the plain backend does not.
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"),
        error=self._get_param("error"),
        cause=self._get_param("cause"),
    )
    return EmptyResult()


def install() -> None:
    StepFunctionResponse.send_task_failure = _send_task_failure  # type: ignore[method-assign]


def uninstall() -> None:
    StepFunctionResponse.send_task_failure = _original_send_task_failure  # type: ignore[method-assign]
