"""The context object holds JSON values with AWS's time format and every field AWS sets.

On AWS the context object (``$$`` in JSONPath, ``$states.context`` in JSONata) is JSON:
``Execution.StartTime`` and ``State.EnteredTime`` are ISO-8601 strings in UTC with
milliseconds (``2019-03-26T20:14:13.192Z``), and ``Execution.RedriveCount`` is 0 on a run
that was never redriven (docs/aws-facts.md). moto 5.2.5 stores the start time as a Python
datetime, so ``"InputPath": "$$"`` fails with "datetime is not JSON serializable", writes
``EnteredTime`` with microseconds and ``+00:00``, and leaves ``RedriveCount`` out.
"""

from __future__ import annotations

import datetime
from typing import Any

from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.eval.states import States

_original_states_init = States.__init__
_original_state_data = state_module.StateData


def aws_time(moment: datetime.datetime | str) -> str:
    """An instant as the context object writes it: UTC, milliseconds, ``Z``."""
    if isinstance(moment, str):
        moment = datetime.datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    moment = moment.astimezone(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _states_init(self: States, context: Any) -> None:
    execution = context["Execution"]
    if isinstance(execution.get("StartTime"), datetime.datetime):
        execution["StartTime"] = aws_time(execution["StartTime"])
    execution.setdefault("RedriveCount", 0)
    _original_states_init(self, context)


def _state_data(**fields: Any) -> dict[str, Any]:
    if "EnteredTime" in fields:
        fields["EnteredTime"] = aws_time(fields["EnteredTime"])
    return _original_state_data(**fields)


def install() -> None:
    States.__init__ = _states_init  # type: ignore[method-assign]
    state_module.StateData = _state_data


def uninstall() -> None:
    States.__init__ = _original_states_init  # type: ignore[method-assign]
    state_module.StateData = _original_state_data
