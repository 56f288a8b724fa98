"""A Map iteration that fails with a ``States.*`` error fails its Map with that error.

moto 5.2.5 names an iteration's error with ``CustomErrorName``, which refuses the
``States.`` prefix: an iteration ending in an uncaught ``States.TaskFailed``,
``States.Timeout`` or ``States.Runtime`` failed its Map with ``States.Runtime`` and the text
"Custom Error Names MUST NOT begin with the prefix 'States.'" instead of its own error and
cause, as AWS reports them (a Map fails with the error of the iteration that failed).
"""

from __future__ import annotations

from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
    iteration_worker,
)


class _ReportedErrorName(ErrorName):
    """An error name as it was reported, ``States.`` prefix or not."""


def error_name_of(error: str | None) -> ErrorName:
    """The ErrorName Retry and Catch match ``error`` with."""
    if error is None or not error.startswith("States."):
        return CustomErrorName(error_name=error)
    try:
        return StatesErrorName.from_name(error)
    except ValueError:  # a States.* name the ASL grammar does not list
        return _ReportedErrorName(error_name=error)


def _iteration_error_name(error_name: str | None) -> ErrorName:
    return error_name_of(error_name)


def install() -> None:
    iteration_worker.CustomErrorName = _iteration_error_name  # type: ignore[misc,assignment]


def uninstall() -> None:
    iteration_worker.CustomErrorName = CustomErrorName  # type: ignore[misc]
