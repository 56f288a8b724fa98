"""A field that cannot be evaluated fails the state with AWS's error name, cause and events.

On AWS (docs/aws-facts.md):
- a JSONata expression that throws, returns nothing (undefined) or returns a value JSON
  cannot hold fails the state with ``States.QueryEvaluationError``; the history gets an
  ``EvaluationFailed`` event (error, cause, location, state), and the cause names the
  expression and the field it was written in, relative to the state: ``Output/result``,
  ``Arguments/A/b[0]``, ``Choices[1]/Condition``, ``Catch[0]/Assign/x``, ``Items``...;
- a JSONata ``Timestamp`` that is not an ISO-8601 date-time fails the same way;
- in JSONPath there is no ``EvaluationFailed`` event ("only present in state machines
  that have QueryLanguage set to JSONata"): a Map whose items are not an array fails with
  ``States.Runtime``, naming the value as JSON.

moto 5.2.5 raises ``States.Runtime`` for a throwing expression, names no field, writes
Python class names (``<class 'bool'>``), and accepts only ``Z`` timestamps, compared with
the machine's local clock. The field of each JSONata expression is found once, when the
definition is parsed, by walking moto's component tree.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

from moto.stepfunctions.parser.api import EvaluationFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.common.path.items_path import ItemsPath
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.component.common.string.string_expression import (
    StringJSONata,
)
from moto.stepfunctions.parser.asl.component.component import Component
from moto.stepfunctions.parser.asl.component.program.states import States
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import (
    Timestamp,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.jsonata.jsonata import extract_jsonata_variable_references
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from longjob.engine.patches.jsonata import QueryFailure, evaluate_with

# moto's attribute names for a state's fields, and the field names AWS writes.
FIELDS = {
    "assign": "Assign",
    "assign_decl": "Assign",
    "output": "Output",
    "parargs": "Arguments",
    "items": "Items",
    "item_selector": "ItemSelector",
    "item_reader": "ItemReader",
    "reader_config": "ReaderConfig",
    "max_items_decl": "MaxItems",
    "max_concurrency_decl": "MaxConcurrency",
    "tolerated_failure_count_decl": "ToleratedFailureCount",
    "tolerated_failure_percentage_decl": "ToleratedFailurePercentage",
    "timeout": "TimeoutSeconds",
    "heartbeat": "HeartbeatSeconds",
    "error": "Error",
    "cause": "Cause",
    "comparison": "Condition",
}
LIST_FIELDS = {"rules": "Choices", "catchers": "Catch"}
WAIT_FIELDS = ("Seconds", "Timestamp")

# AWS's Timestamp: RFC 3339 date-time, upper-case T, Z or a numeric offset.
TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _join(path: tuple[str, ...]) -> str:
    text = ""
    for segment in path:
        text += segment if segment.startswith("[") or not text else "/" + segment
    return text


def _segment(attribute: str, child: Component) -> str | None:
    if attribute == "wait_function":
        name = type(child).__name__
        return next((field for field in WAIT_FIELDS if name.startswith(field)), None)
    if attribute == "binding" or attribute == "value":
        return None
    return FIELDS.get(attribute)


def annotate(node: Component, path: tuple[str, ...] = (), seen: set[int] | None = None) -> None:
    """Sets ``_longjob_field`` on every JSONata expression under ``node``: its field's
    location relative to its state, as AWS names it."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, StringJSONata):
        node._longjob_field = _join(path)
    if isinstance(node, States):
        for state in node.states.values():
            annotate(state, (), seen)
        return
    identifier = getattr(node, "identifier", None)
    if isinstance(identifier, str) and "Binding" in type(node).__name__:
        path = (*path, identifier)
    for attribute, value in vars(node).items():
        if isinstance(value, Component):
            segment = _segment(attribute, value)
            annotate(value, path if segment is None else (*path, segment), seen)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if not isinstance(item, Component):
                    continue
                if attribute in LIST_FIELDS:
                    annotate(item, (*path, f"{LIST_FIELDS[attribute]}[{index}]"), seen)
                elif attribute == "values":
                    annotate(item, (*path, f"[{index}]"), seen)
                else:
                    annotate(item, path, seen)


class _RecordedDetails(dict):
    """Event details of a failure whose EvaluationFailed event is in the history already."""


def query_evaluation_error(env: Environment, location: str, cause: str) -> FailureEventException:
    """The failure of a JSONata field, with its EvaluationFailed event already recorded."""
    error_name = StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError)
    details = EvaluationFailedEventDetails(error=error_name.error_name, cause=cause)
    if location:
        details["location"] = location
    failure = FailureEventException(
        FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.EvaluationFailed,
            event_details=_RecordedDetails(evaluationFailedEventDetails=details),
        )
    )
    env.event_manager.add_event(
        context=env.event_history_context,
        event_type=HistoryEventType.EvaluationFailed,
        event_details=EventDetails(
            evaluationFailedEventDetails=failure.get_evaluation_failed_event_details()
        ),
    )
    return failure


def runtime_error(env: Environment, cause: str) -> FailureEventException:
    error_name = StatesErrorName(typ=StatesErrorNameType.StatesRuntime)
    return FailureEventException(
        FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.ExecutionFailed,
            event_details=EventDetails(
                executionFailedEventDetails={"error": error_name.error_name, "cause": cause}
            ),
        )
    )


def _string_jsonata_body(self: StringJSONata, env: Environment) -> None:
    # AWS refuses `$` and `$$` in JSONata (moto's check, kept).
    extract_jsonata_variable_references(self.expression)
    store = env.variable_store
    bindings = {**store._outer_scope, **store._inner_scope, "states": env.states._states_data}
    try:
        env.stack.append(evaluate_with(self.expression, bindings))
    except QueryFailure as failure:
        location = getattr(self, "_longjob_field", "")
        field = f" specified for the field '{location}'" if location else ""
        cause = f"The JSONata expression '{self.expression}'{field} {failure.reason}"
        raise query_evaluation_error(env, location, cause) from None


def _no_second_evaluation(*_: Any) -> None:
    # moto re-evaluates a null or string result to tell undefined and function values
    # apart; jsonata.evaluate already raised QueryFailure for those.
    return None


def parse_timestamp(text: Any) -> datetime.datetime | None:
    """AWS's Timestamp as an aware datetime, milliseconds dropped; None if it is not one."""
    match = TIMESTAMP.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    offset = "+00:00" if match.group(2) == "Z" else match.group(2)
    try:
        return datetime.datetime.fromisoformat(match.group(1) + offset)
    except ValueError:
        return None


def _wait_seconds(self: Timestamp, env: Environment) -> int:
    self.string.eval(env=env)
    value = env.stack.pop()
    moment = parse_timestamp(value)
    if moment is None:
        if isinstance(self.string, StringJSONata):
            raise query_evaluation_error(
                env,
                "Timestamp",
                "The Timestamp field cannot be parsed as an ISO-8601 extended offset "
                f"date-time format string: {value}",
            )
        raise FailureEventException(self._create_failure_event(env, value))
    return int((moment - datetime.datetime.now(datetime.UTC)).total_seconds())


def _items_path_body(self: ItemsPath, env: Environment) -> None:
    _original_items_path(self, env)
    items = env.stack[-1]
    if not isinstance(items, list):
        shown = json.dumps(items, separators=(",", ":"))
        raise runtime_error(env, f"Map state input must be an array but was: {shown}")


def _error_output(failure_event: FailureEvent) -> Any:
    # A Catch sees the cause as the execution would report it: with the sentence that
    # names the state.
    output = _error_output_before_install(failure_event)
    if failure_event.event_type == HistoryEventType.EvaluationFailed:
        details = FailureEventException(failure_event).get_evaluation_failed_event_details()
        if details and "cause" in details:
            output["Cause"] = details["cause"]
    return output


def _parse(definition: str) -> Any:
    program, tree = _parse_before_install(definition)
    annotate(program)
    return program, tree


def _add_event(self: EventManager, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
    # moto's Task and Map states record the EvaluationFailed event of a failure they
    # catch, again; the failure recorded it already, once per attempt, as AWS does.
    if event_type == HistoryEventType.EvaluationFailed:
        details = kwargs.get("event_details") or (args[0] if args else None)
        with self._mutex:
            last = self._history_event_list[-1] if self._history_event_list else None
        if isinstance(details, _RecordedDetails):
            return last["id"] if last else 0
        if (
            last is not None
            and last.get("type") == HistoryEventType.EvaluationFailed
            and details is not None
            and last.get("evaluationFailedEventDetails")
            == details.get("evaluationFailedEventDetails")
        ):
            return last["id"]
    return _original_add_event(self, context, event_type, *args, **kwargs)


_original_string_jsonata = StringJSONata._eval_body
_original_validate = string_expression.validate_jsonata_expression_output
_original_wait_seconds = Timestamp._get_wait_seconds
_original_from_timestamp = Timestamp._from_timestamp_string
_original_items_path = ItemsPath._eval_body
# distributed_map also reads definitions first (installed before this): wrap what is there.
_parse_before_install = AmazonStateLanguageParser.parse
_original_add_event = EventManager.add_event
# Installed after aborted_map, which replaces the same method: this wraps what is there.
_error_output_before_install = ExecutionState._construct_error_output_value


def install() -> None:
    global _error_output_before_install, _parse_before_install
    _error_output_before_install = ExecutionState._construct_error_output_value
    _parse_before_install = AmazonStateLanguageParser.parse
    ExecutionState._construct_error_output_value = staticmethod(_error_output)
    StringJSONata._eval_body = _string_jsonata_body
    string_expression.validate_jsonata_expression_output = _no_second_evaluation
    Timestamp._get_wait_seconds = _wait_seconds
    # Also what moto checks a literal Timestamp with when it parses the definition.
    Timestamp._from_timestamp_string = staticmethod(parse_timestamp)
    ItemsPath._eval_body = _items_path_body
    AmazonStateLanguageParser.parse = staticmethod(_parse)
    EventManager.add_event = _add_event


def uninstall() -> None:
    ExecutionState._construct_error_output_value = staticmethod(_error_output_before_install)
    StringJSONata._eval_body = _original_string_jsonata
    string_expression.validate_jsonata_expression_output = _original_validate
    Timestamp._get_wait_seconds = _original_wait_seconds
    Timestamp._from_timestamp_string = staticmethod(_original_from_timestamp)
    ItemsPath._eval_body = _original_items_path
    AmazonStateLanguageParser.parse = staticmethod(_parse_before_install)
    EventManager.add_event = _original_add_event
