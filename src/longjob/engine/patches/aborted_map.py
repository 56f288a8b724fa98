"""Stopping an execution while a Map iteration runs ends it ABORTED, as on AWS.

Two gaps of moto 5.2.5 turn such a stopped execution into a FAILED one:
- an aborted Map iteration carries the stop's *cause string* where the failure's event
  details (a dict) belong, and building the Map state's error output then raises
  AttributeError;
- the failure that the aborted iteration then raises in the (stopping) program calls
  Environment.set_error, which overwrites the stopped state unconditionally.
On AWS a stopped execution is ABORTED whatever its states do while they wind down.
"""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

_original_error_output = ExecutionState._construct_error_output_value
_original_set_error = Environment.set_error


def _construct_error_output_value(failure_event: Any) -> Any:
    details = next(iter(failure_event.event_details.values()))
    if isinstance(details, dict):
        return _original_error_output(failure_event)
    return {"Error": "States.Aborted", "Cause": "" if details is None else str(details)}


def _set_error(self: Environment, error: Any) -> None:
    if isinstance(self._program_state, ProgramStopped):
        return
    _original_set_error(self, error)


def install() -> None:
    ExecutionState._construct_error_output_value = staticmethod(_construct_error_output_value)
    Environment.set_error = _set_error


def uninstall() -> None:
    ExecutionState._construct_error_output_value = staticmethod(_original_error_output)
    Environment.set_error = _original_set_error
