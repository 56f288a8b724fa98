"""GetExecutionHistory answers in pages, newest first when asked, as on AWS.

AWS pages an execution's history (`maxResults`, 100 by default, at most 1,000, and
`nextToken`) and returns it newest first with `reverseOrder`
(docs/aws-facts.md). moto 5.2.5 ignores all three and returns the whole history, oldest
first, in one answer. `longjob run`/`watch` read only the events that are new since their
last poll, newest first, stopping at the first one they have seen: against moto that read
nothing after the first poll, and every poll serialised the whole history.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.stepfunctions.responses import StepFunctionResponse

DEFAULT_PAGE = 100
MAX_PAGE = 1000

_original = StepFunctionResponse.get_execution_history


def _get_execution_history(self: StepFunctionResponse) -> Any:
    history = self.stepfunction_backend.get_execution_history(self._get_param("executionArn"))
    events = list(history["events"])
    if self._get_param("reverseOrder"):
        events.reverse()
    size = min(MAX_PAGE, int(self._get_param("maxResults") or DEFAULT_PAGE))
    start = int(self._get_param("nextToken") or 0)
    answer: dict[str, Any] = {"events": events[start : start + size]}
    if start + size < len(events):
        answer["nextToken"] = str(start + size)
    return ActionResult(answer)


def install() -> None:
    StepFunctionResponse.get_execution_history = _get_execution_history


def uninstall() -> None:
    StepFunctionResponse.get_execution_history = _original
