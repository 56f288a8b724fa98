"""The ``ecs:runTask`` / ``ecs:runTask.sync`` Task state, backed by the local task runtime.

moto 5.2.5's ECS integration leaves parameters un-recased, polls ``.sync`` every 0.5 s and
reports a non-zero exit as success. This subclass keeps moto's ASL semantics (Retry, Catch,
TimeoutSeconds, ResultSelector...) and closes those gaps the way AWS behaves
(docs/aws-facts.md): botocore's own ECS model recases requests and responses, completion is a
long-poll, a non-zero exit fails the state with ``States.TaskFailed`` and the task
description as ``Cause``, and a task nobody waits for any more is stopped.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ServiceModel, StructureShape
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
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
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_factory,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs import (  # noqa: E501
    StateTaskServiceEcs,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from longjob.engine import ACCOUNT, REGION
from longjob.engine.authorization import AccessDenied
from longjob.engine.exceptions import EcsApiError, RunTaskFailures
from longjob.engine.iam_requests import Call, Identity, requests_for
from longjob.engine.patches.distributed_map import run_name
from longjob.engine.patches.iam_checks import STEP_FUNCTIONS_KEY, current
from longjob.engine.task_record import TaskContext
from longjob.engine.task_runtime import LocalTaskRuntime
from longjob.stack.iam_policy import Request

# A .sync poll blocks at most this long waiting for the task to stop; the state reacts to
# its own timeout or to a stopped execution within this delay.
LONG_POLL_SECONDS = 0.2

_runtime_lock = threading.Lock()
_runtime: LocalTaskRuntime | None = None


def set_runtime(runtime: LocalTaskRuntime | None) -> None:
    """The runtime the next executions' ECS states use (one engine per process)."""
    global _runtime
    with _runtime_lock:
        _runtime = runtime


def current_runtime() -> LocalTaskRuntime:
    if _runtime is None:
        raise RuntimeError("no local task runtime is active")
    return _runtime


def authorize(operation: str, params: dict[str, Any], extra: list[Request] | None = None) -> None:
    """Checks an ECS call of the state machine as its role; AccessDeniedException as ECS."""
    found = current()
    if found is None:
        return
    authorizer, identity = found
    principal = authorizer.principal(STEP_FUNCTIONS_KEY)
    context: dict[str, Any] = {}
    if params.get("cluster"):
        context["ecs:cluster"] = runtime_cluster_arn(params["cluster"], identity)
    requests = requests_for(Call("ecs", operation, params), identity, context)
    try:
        authorizer.check(principal, requests + (extra or []))
    except AccessDenied as denial:
        raise EcsApiError("AccessDeniedException", denial.message) from None


def runtime_cluster_arn(cluster: str, identity: Identity) -> str:
    if cluster.startswith("arn:"):
        return cluster
    return f"arn:{identity.partition}:ecs:{identity.region}:{identity.account}:cluster/{cluster}"


def passed_roles() -> list[Request]:
    """RunTask passes the task definition's roles to ECS: iam:PassRole on each."""
    found = current()
    if found is None:
        return []
    authorizer, _ = found
    context = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    return [Request("iam:PassRole", arn, context) for arn in authorizer.passed_to_ecs]


@cache
def ecs_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("ecs")


def _operation(action: str) -> str:
    """``runTask`` / ``run_task`` → ``RunTask``."""
    return "".join(part[:1].upper() + part[1:] for part in action.split("_"))


class LocalEcsTaskState(StateTaskServiceEcs):
    def _get_supported_parameters(self) -> set[str] | None:
        """moto's list of RunTask parameters predates CapacityProviderStrategy, which Step
        Functions passes on (the CDK's EcsRunTask renders it: docs/aws-facts.md), and
        drops it silently: every task would run on the cluster's default provider."""
        supported = super()._get_supported_parameters()
        return None if supported is None else supported | {"CapacityProviderStrategy"}

    def _operation_model(self, service_action_name: str | None) -> Any:
        return ecs_model().operation_model(
            _operation(service_action_name or self.resource.api_action)
        )

    def _normalise_parameters(
        self,
        parameters: dict,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        self._to_boto_request(parameters, self._operation_model(service_action_name).input_shape)

    def _normalise_response(
        self,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        self._from_boto_response(response, self._operation_model(service_action_name).output_shape)

    def _pascal_task(self, description: dict) -> dict:
        shape = ecs_model().shape_for("Task")
        assert isinstance(shape, StructureShape)
        self._from_boto_response(description, shape)
        return description

    def _eval_service_task(
        self,
        env: Environment,
        resource_runtime_part: Any,
        normalised_parameters: dict,
        state_credentials: Any,
    ) -> None:
        context_data = env.states.context_object.context_object_data
        context = TaskContext(
            state_name=context_data["State"]["Name"],
            attempt=context_data["State"]["RetryCount"] + 1,
            execution_name=run_name(context_data["Execution"]["Name"]),
        )
        runtime = current_runtime()
        if self._get_boto_service_action() != "run_task":
            raise EcsApiError(
                "InvalidParameterException",
                f"ecs:{self.resource.api_action} is not supported locally (runTask only)",
            )
        extra = passed_roles()
        if normalised_parameters.get("tags"):
            # Tags given at creation are authorized as ecs:TagResource too (ECS: "Grant
            # permission to tag resources on creation").
            cluster = str(normalised_parameters.get("cluster", "default")).rsplit("/", 1)[-1]
            task = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{uuid.uuid4().hex}"
            extra.append(Request("ecs:TagResource", task, {"ecs:CreateAction": "RunTask"}))
        authorize("RunTask", normalised_parameters, extra)
        env.stack.append(runtime.run_task(normalised_parameters, context))

    def _build_sync_resolver(
        self,
        env: Environment,
        resource_runtime_part: Any,
        normalised_parameters: dict,
        state_credentials: Any,
    ) -> Callable[[], Any] | None:
        submission = env.stack.pop()
        task_arn = submission["Tasks"][0]["TaskArn"]
        runtime = current_runtime()

        described = False

        def resolve() -> dict | None:
            nonlocal described
            if not described:  # one check: every poll asks the same of the same task
                authorize("DescribeTasks", {"tasks": [task_arn]})
                described = True
            description = runtime.describe(task_arn, wait=LONG_POLL_SECONDS)
            if description["lastStatus"] != "STOPPED":
                return None
            task = self._pascal_task(description)
            exit_codes = [c.get("ExitCode") for c in task["Containers"]]
            if any(code != 0 for code in exit_codes):
                raise FailureEventException(self._task_failed(env, task))
            return task

        # State objects are shared by concurrent Map iterations: the task travels with
        # its resolver, never on self.
        resolve.task_arn = task_arn  # type: ignore[attr-defined]
        return resolve

    def _task_failed(self, env: Environment, task: dict) -> FailureEvent:
        error = StatesErrorNameType.StatesTaskFailed.to_name()
        return FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=error,
                    cause=json.dumps(task, separators=(",", ":")),
                    resource=self._get_sfn_resource(),
                    resourceType=self._get_sfn_resource_type(),
                )
            ),
        )

    def _eval_sync(
        self,
        env: Environment,
        sync_resolver: Callable[[], Any] | None,
        timeout_seconds: int | None,
        callback_endpoint: Any,
        heartbeat_endpoint: Any,
    ) -> Any:
        assert sync_resolver is not None
        try:
            while env.is_running():  # false once the state timed out or the run stopped
                result = sync_resolver()  # long-polls: no fixed sleep between checks
                if result is not None:
                    return result
            return None
        finally:
            # Step Functions stops the task when the state times out or the execution is
            # stopped (measured, not documented: docs/aws-facts.md); moto only stops
            # waiting. Stopping a stopped task does nothing. Tests switch this off to show
            # that the task's own deadline is enough.
            task_arn = sync_resolver.task_arn  # type: ignore[attr-defined]
            runtime = current_runtime()
            if runtime.stop_abandoned_tasks and not runtime.tasks[task_arn].done.is_set():
                try:
                    authorize("StopTask", {"task": task_arn})
                except EcsApiError:
                    pass  # Step Functions could not stop it either: the task runs on
                else:
                    runtime.stop(task_arn, "Task stopped by AWS Step Functions")

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        if isinstance(ex, EcsApiError):
            code = ex.response["Error"]["Code"]
            cause = (
                f"{ex.response['Error']['Message']} (Service: AmazonECS; Status Code: "
                f"{ex.response['ResponseMetadata']['HTTPStatusCode']}; Error Code: {code}; "
                "Request ID: local; Proxy: null)"
            )
            # Step Functions names the ECS exceptions it knows by class (a throttled security
            # group look-up arrives as ECS.InvalidParameterException); the rest are generic.
            known = {"InvalidParameterException", "AccessDeniedException"}
            name = f"ECS.{code}" if code in known else "ECS.AmazonECSException"
            return self._failure(env, name, cause)
        if isinstance(ex, RunTaskFailures):
            response = dict(ex.response)
            self._normalise_response(response, service_action_name="run_task")
            return self._failure(env, "AmazonECS.Unknown", json.dumps(response))
        return super()._from_error(env=env, ex=ex)

    def _failure(self, env: Environment, error: str, cause: str) -> FailureEvent:
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=error,
                    cause=cause,
                    resource=self._get_sfn_resource(),
                    resourceType=self._get_sfn_resource_type(),
                )
            ),
        )


_original_factory = state_task_service_factory.state_task_service_for


def _service_for(service_name: str) -> Any:
    if service_name == "ecs":
        return LocalEcsTaskState()
    return _original_factory(service_name)


def install() -> None:
    """Makes every ECS Task state parsed from now on use the local runtime."""
    state_task_factory.state_task_service_for = _service_for


def uninstall() -> None:
    state_task_factory.state_task_service_for = _original_factory
