"""StartExecution as AWS has it: a generated name when none is given, and the test cases of
a mock configuration file, started on ``<machine ARN>#<case>``.

moto 5.2.5 names an execution started without a name ``None`` (its ARN ends ``:None``, and
a second one collides with the first); AWS gives it a UUID ("If you don't provide a name for
the execution, Step Functions automatically generates a universally unique identifier (UUID)
as the execution name", StartExecution's ``name``; docs/aws-facts.md).

moto 5.2.5 carries Step Functions Local's mock machinery (LocalStack's port) but its file
loader is stubbed out, its backend drops the ``#case`` suffix path, and it picks a state's
response by ``$states.context.State.RetryCount``. AWS numbers the responses by invocation:
every time the state runs in the execution, retries, loops and Map iterations included, and
an invocation without a response fails the execution (docs/aws-facts.md, "Mock configuration
files"). Here the suffix selects a case the engine was given, each execution counts its own
invocations, and a missing one fails the execution with ``States.Runtime``, naming the state
and the invocation. A mocked ``Throw`` reaches Retry and Catch with its own error: moto took
any ``States.*`` name for an invalid custom one, and several services (DynamoDB, SNS, SQS,
the SDK integrations) renamed every error their call raised, the mocked one included.
"""

from __future__ import annotations

import bisect
import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from moto.stepfunctions.exceptions import InvalidName
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import mock_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service,
    state_task_service_factory,  # noqa: F401 - its imports define every service class
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.mocking.mock_config import (
    MockedResponseReturn,
    MockedResponseThrow,
    MockTestCase,
)
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from longjob.engine.patches.evaluation_errors import runtime_error
from longjob.engine.patches.iteration_errors import error_name_of

# (machine name, case name) -> {state: [response ranges, in order from 0]}, or None.
Cases = Callable[[str, str], "dict[str, list[Any]] | None"]

_cases: Cases | None = None
_starting = threading.local()


def set_cases(cases: Cases | None) -> None:
    """Where StartExecution finds a ``#case``; None refuses every suffix."""
    global _cases
    _cases = cases


@contextlib.contextmanager
def given_case(responses: dict[str, list[Any]]) -> Iterator[None]:
    """A StartExecution on ``ARN#case`` by this thread, meanwhile, runs with these responses
    (a caller that knows its file: two files may name the same case)."""
    _starting.given = responses
    try:
        yield
    finally:
        _starting.given = None


class CountedTestCase(MockTestCase):
    """One execution's test case: its responses and how often each state has run."""

    def __init__(self, machine: str, case: str, responses: dict[str, list[Any]]) -> None:
        # Not moto's constructor: it expands each range into one entry per invocation.
        self.state_machine_name = machine
        self.test_case_name = case
        self.state_mocked_responses = responses  # what is_mocked_mode() looks states up in
        self.invocations: dict[str, int] = {}
        self._lock = threading.Lock()  # Map iterations run at once and share the counts

    def next_invocation(self, state: str) -> int:
        with self._lock:
            number = self.invocations.get(state, 0)
            self.invocations[state] = number + 1
            return number

    def response(self, state: str, number: int) -> Any:
        """The range that answers invocation ``number``, or None."""
        ranges = self.state_mocked_responses[state]
        index = bisect.bisect_right([r.first for r in ranges], number) - 1
        if index < 0 or number > ranges[index].last:
            return None
        return ranges[index]


def _current_mocked_response(self: Environment) -> Any:
    case = self.mock_test_case
    assert isinstance(case, CountedTestCase)
    state = self.next_state_name
    number = case.next_invocation(state)
    found = case.response(state, number)
    if found is None:
        last = case.state_mocked_responses[state][-1].last
        raise runtime_error(
            self,
            f"test case {case.test_case_name!r} has no mocked response for invocation "
            f"{number} of state {state!r} (it has {last + 1}: 0-{last})",
        )
    if found.throws:
        return MockedResponseThrow(number, number, found.error, found.cause)
    return MockedResponseReturn(number, number, found.returns)


def _throw(env: Environment, mocked_response: MockedResponseThrow) -> None:
    # moto takes every mocked error for a custom one and refuses the `States.` prefix; a
    # mocked `.sync` task failing as AWS reports it throws States.TaskFailed.
    error = mocked_response.error
    raise FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error_name_of(error),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=error, cause=mocked_response.cause
                )
            ),
        )
    )


_original_start = StepFunctionsParserBackend.start_execution
_original_throw = mock_eval_utils._eval_mocked_response_throw
_original_worker = Execution._get_start_execution_worker
_original_response = Environment.get_current_mocked_response


def _start_execution(
    self: StepFunctionsParserBackend,
    state_machine_arn: str,
    name: Any = None,
    execution_input: Any = None,
    trace_header: Any = None,
) -> Any:
    if not name:
        name = str(uuid.uuid4())
    if "#" not in state_machine_arn:
        return _original_start(self, state_machine_arn, name, execution_input, trace_header)
    arn, case = state_machine_arn.split("#", 1)
    machine = self.describe_state_machine(arn).name
    responses = getattr(_starting, "given", None)
    if responses is None and _cases is not None:
        responses = _cases(machine, case)
    if responses is None:
        raise InvalidName(f"Invalid mock test case name '{case}' for state machine '{machine}'")
    _starting.case = CountedTestCase(machine, case, responses)
    try:
        return _original_start(self, arn, name, execution_input, trace_header)
    finally:
        _starting.case = None


def _start_execution_worker(self: Execution) -> Any:
    worker = _original_worker(self)
    case = getattr(_starting, "case", None)
    if case is not None:
        worker._mock_test_case = case
    return worker


def _service_classes() -> list[type]:
    found: list[type] = []
    todo: list[type] = [state_task_service.StateTaskService]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


# Service classes whose own _from_error renames any exception -> that method.
_renaming = {
    cls: cls.__dict__["_from_error"] for cls in _service_classes() if "_from_error" in cls.__dict__
}


def _keeping_failures(original: Any) -> Any:
    def _from_error(self: Any, env: Environment, ex: Exception) -> Any:
        if isinstance(ex, FailureEventException):
            return ex.failure_event
        return original(self, env, ex)

    return _from_error


def install() -> None:
    for cls, original in _renaming.items():
        cls._from_error = _keeping_failures(original)  # type: ignore[attr-defined]
    StepFunctionsParserBackend.start_execution = _start_execution  # type: ignore[method-assign]
    Execution._get_start_execution_worker = _start_execution_worker  # type: ignore[method-assign]
    Environment.get_current_mocked_response = _current_mocked_response  # type: ignore[method-assign]
    mock_eval_utils._eval_mocked_response_throw = _throw


def uninstall() -> None:
    for cls, original in _renaming.items():
        cls._from_error = original  # type: ignore[attr-defined]
    StepFunctionsParserBackend.start_execution = _original_start  # type: ignore[method-assign]
    Execution._get_start_execution_worker = _original_worker  # type: ignore[method-assign]
    Environment.get_current_mocked_response = _original_response  # type: ignore[method-assign]
    mock_eval_utils._eval_mocked_response_throw = _original_throw
