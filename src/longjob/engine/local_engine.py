"""Runs a Step Functions definition for real on this machine.

The ASL is interpreted by moto's Step Functions engine (a port of LocalStack's), executed,
not mocked. ECS tasks run on the local task runtime; Lambda and SNS calls are answered
in-process; everything else the workflow or the tasks' scripts call reaches moto, in this
process and through an embedded endpoint on 127.0.0.1 that scripts find in
``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from longjob_core.contract import stream_of
from longjob_core.names import execution_name_problem
from moto import mock_aws

from longjob.engine import ACCOUNT, REGION, patches
from longjob.engine.authorization import AccessDenied, Authorizer, Principal
from longjob.engine.endpoint import LockedEndpoint, RunCredentials
from longjob.engine.exceptions import InvalidDefinition, InvalidInput
from longjob.engine.iam_requests import Identity
from longjob.engine.launchers import Launcher
from longjob.engine.patches import ecs_tasks, iam_checks, start_execution
from longjob.engine.private_files import private_directory
from longjob.engine.service_hooks import FunctionSpec, Notification, ServiceHooks
from longjob.engine.task_definition import TaskDefinition
from longjob.engine.task_record import TaskRecord, path_segment
from longjob.engine.task_runtime import DEFAULT_STOP_TIMEOUT, LineSink, LocalTaskRuntime
from longjob.errors import RunInterrupted
from longjob.mocking.config import MockConfig, MockConfigError
from longjob.stack.iam_policy import Request

ROLE_ARN = "arn:aws:iam::123456789012:role/longjob-local-state-machine"
ENDED = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")

# What Fargate says when the task execution role may not do what starting a task needs
# (the shapes of ECS's stopped reasons; docs/aws-facts.md).
REGISTRY_AUTH_FAILED = (
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "
    "retrieval failed: unable to retrieve ecr registry auth: service call has been retried 1 "
    "time(s): AccessDeniedException: {message}"
)
PULL_FAILED = (
    "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to "
    "resolve ref {image}: unexpected status code 403 Forbidden: {message}"
)
LOGGER_FAILED = (
    "ResourceInitializationError: failed to validate logger args: create stream has been "
    "retried 1 times: failed to create Cloudwatch log stream: AccessDeniedException: "
    "{message} : exit status 1"
)
_ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)")


def ecr_repository_arn(image: str) -> str | None:
    """``ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG`` → the repository's ARN."""
    match = _ECR_IMAGE.match(image)
    if match is None:
        return None
    account, region, repository = match.groups()
    return f"arn:aws:ecr:{region}:{account}:repository/{repository}"


# Event details a run report keeps; EvaluationFailed names its field ("location") and state.
HISTORY_FIELDS = (
    "error",
    "cause",
    "location",
    "state",
    "resource",
    "resourceType",
    "mapRunArn",
)


@dataclass
class TaskSummary:
    label: str
    state: str
    attempt: int
    task_arn: str
    exit_code: int | None
    stop_code: str | None
    started_at: float | None
    stopped_at: float | None
    log_file: str


@dataclass
class RunResult:
    execution_arn: str
    execution_name: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]
    tasks: list[TaskSummary] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    log_dir: str = ""
    interrupted: int | None = None  # the signal that stopped the run, if one did
    duration: float | None = None  # seconds from start to stop, as DescribeExecution says
    timed_out: bool = False  # stopped because wait()'s timeout passed

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def substitute(definition: str, substitutions: dict[str, str]) -> str:
    """Fills ``${Name}`` placeholders as CloudFormation's DefinitionSubstitutions does.

    A placeholder without a value is an error here: deployed, it would reach the
    state machine as literal text and fail at run time."""
    missing = sorted(set(_SUBSTITUTION.findall(definition)) - set(substitutions))
    if missing:
        raise InvalidInput(
            "no value for definition substitution(s) "
            + ", ".join("${" + name + "}" for name in missing)
            + " (pass --sub NAME=VALUE)"
        )
    return _SUBSTITUTION.sub(lambda m: substitutions[m.group(1)], definition)


def parse_definition(text: str) -> str:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidDefinition(f"definition is not JSON: {error}") from None
    if not isinstance(document, dict) or "States" not in document or "StartAt" not in document:
        raise InvalidDefinition("definition must be a JSON object with StartAt and States")
    return json.dumps(document)


class LocalEngine:
    """One embedded AWS (moto in-process + server), one task runtime, many executions."""

    def __init__(
        self,
        project: Path,
        launcher: Launcher,
        functions: dict[str, str | FunctionSpec] | None = None,
        run_root: Path | None = None,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        on_line: LineSink | None = None,
        log_group: str | None = None,
        authorizer: Authorizer | None = None,
        task_definition: TaskDefinition | None = None,
    ) -> None:
        self.project = project.resolve()
        # Each AWS call checked against the role that makes it on AWS (None: nothing is).
        self.authorizer = authorizer
        # The role Fargate pulls the image and writes the task's lines as (the task
        # execution role), and the image the task definition names.
        self.log_writer: Principal | None = None
        self.log_group = log_group
        self._user_sink = on_line
        self.launcher = launcher
        self.functions = functions or {}
        self.run_root = run_root or project / ".longjob" / "runs"
        self.stop_timeout = stop_timeout
        self.on_line = on_line
        self._stack = contextlib.ExitStack()
        # The embedded endpoint, started when a task first needs it (a run without tasks,
        # `run --definition` of Pass states, never pays for it).
        self._server: LockedEndpoint | None = None
        self._server_lock = threading.Lock()
        # The key the tasks sign their calls to the embedded endpoint with; random per run.
        # It is the task role's: the endpoint answers no other.
        self.credentials = RunCredentials.new()
        # This process's own key (the CLI, as the person who runs it): never checked.
        self.operator = RunCredentials.new()
        self.runtime = LocalTaskRuntime(
            launcher=launcher,
            log_root=self.run_root,
            base_env={},
            region=REGION,
            stop_timeout=stop_timeout,
            on_line=self._on_line,
            may_start=self._may_start,
            task_definition=task_definition,
        )
        self._log_lock = threading.Lock()
        self._streams: set[str] = set()
        self.hooks = ServiceHooks(self.functions, self.project, REGION, authorizer)
        self._machines: dict[tuple[str, str | None], str] = {}
        # Mock configuration files: StartExecution on `<machine ARN>#<case>` runs a case.
        # (machine here, case) -> (its file, the machine's name in the file).
        self._mock_cases: dict[tuple[str, str], tuple[MockConfig, str]] = {}

    # --- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> LocalEngine:
        # moto logs every caught state failure with a full dump of the state at WARNING;
        # the failure itself is in the execution history.
        logging.getLogger("moto").setLevel(logging.CRITICAL)
        # The embedded endpoint would log every request of the tasks' scripts.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        root = self.run_root.parent if self.run_root.parent.name == ".longjob" else self.run_root
        private_directory(self.run_root, root)
        patches.install()
        self._stack.callback(patches.uninstall)
        iam_checks.set_authorizer(self.authorizer, Identity(REGION, ACCOUNT))
        self._stack.callback(iam_checks.set_authorizer, None)
        # Keep the user's real AWS settings away from the embedded AWS and the tasks.
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
        self._stack.callback(os.environ.update, saved)
        os.environ.update(self.operator.environment(), AWS_DEFAULT_REGION=REGION)
        self._stack.enter_context(
            mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        )
        self._stack.enter_context(self.hooks)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.runtime.base_env_provider = self.task_environment
        if self.log_group:
            self._logs = self.aws_client("logs")
            self._logs.create_log_group(logGroupName=self.log_group)
        ecs_tasks.set_runtime(self.runtime)
        self._stack.callback(ecs_tasks.set_runtime, None)
        start_execution.set_cases(self._mock_case)
        self._stack.callback(start_execution.set_cases, None)
        self._stack.callback(self.runtime.shutdown)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def enforce(self, authorizer: Authorizer) -> None:
        """Check each AWS call of the runs against the roles ``authorizer`` knows (before
        the engine starts)."""
        self.authorizer = authorizer
        self.hooks.authorizer = authorizer

    def aws_client(self, service: str) -> Any:
        """A client of the embedded AWS (same state the tasks and the workflow see)."""
        return boto3.client(service, region_name=REGION)

    @property
    def endpoint(self) -> str:
        """The URL the tasks' scripts reach the embedded AWS at (started on first use)."""
        with self._server_lock:
            if self._server is None:
                server = LockedEndpoint(self.credentials)
                server.start()
                self._stack.callback(server.stop)
                self._server = server
            host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def task_environment(self) -> dict[str, str]:
        """The base environment of every task, as a container starts with one: a search
        path, a locale (and time zone), the embedded endpoint and fake credentials; nothing
        else of this process's environment (the task runtime adds a private HOME/TMPDIR)."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
        }
        if "TZ" in os.environ:
            env["TZ"] = os.environ["TZ"]
        env.update(
            self.credentials.environment(),
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
        )
        return env

    def _may_start(self, record: TaskRecord) -> str | None:
        """Why Fargate would stop the task before it runs, as the task execution role: it
        may not get the registry's token, pull the image, or create and write the task's
        log stream (docs/aws-facts.md)."""
        if self.authorizer is None or self.log_writer is None:
            return None
        task_id = record.task_arn.rsplit("/", 1)[-1]
        writer = Principal(self.log_writer.role, task_id)
        checks: list[tuple[Request, str]] = []
        image = self.runtime.task_definition.image if self.runtime.task_definition else None
        repository = ecr_repository_arn(image or "")
        if repository is not None:
            checks.append((Request("ecr:GetAuthorizationToken", "*"), REGISTRY_AUTH_FAILED))
            for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
                checks.append((Request(action, repository), PULL_FAILED))
        if self.log_group:
            stream = (
                f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{self.log_group}"
                f":log-stream:{stream_of(task_id)}"
            )
            for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
                checks.append((Request(action, stream), LOGGER_FAILED))
        for request, reason in checks:
            try:
                self.authorizer.check(writer, [request])
            except AccessDenied as denial:
                return reason.format(image=image, message=denial.message)
        return None

    def _on_line(self, record: TaskRecord, line: str) -> None:
        if self.log_group:
            self._to_cloudwatch(record, line)
        if self._user_sink is not None:
            self._user_sink(record, line)

    def _to_cloudwatch(self, record: TaskRecord, line: str) -> None:
        """Emulates the awslogs driver: one stream per task, one event a line.

        Written into the embedded CloudWatch Logs directly, not through its API: awslogs
        writes as the task execution role, whose permission is checked before the task
        starts (_may_start), and an API call per line (serialised, signed, parsed) made
        log writing the slowest part of a wide stage."""
        from moto.logs.models import logs_backends  # loaded by the mock already

        stream = stream_of(record.task_arn.rsplit("/", 1)[-1])
        backend = logs_backends[ACCOUNT][REGION]
        with self._log_lock:
            if stream not in self._streams:
                backend.create_log_stream(self.log_group, stream)
                self._streams.add(stream)
            backend.put_log_events(
                self.log_group, stream, [{"timestamp": int(time.time() * 1000), "message": line}]
            )

    def inject_ecs_faults(self, kind: str, count: int = 1) -> None:
        """The next ``count`` RunTask calls fail: ``capacity`` / ``throttling``
        (ECS.AmazonECSException), ``invalid-parameter`` (ECS.InvalidParameterException, as
        a throttled security-group look-up), ``failures`` (AmazonECS.Unknown),
        ``cannot-pull`` (the task stops before it runs: CannotPullContainerError) or
        ``spot-interruption`` (the task starts, then Fargate Spot takes it back)."""
        self.runtime.inject_faults(kind, count)

    def register_mock_config(
        self, config: MockConfig, machine: str, as_machine: str | None = None
    ) -> None:
        """``StartExecution`` on ``<ARN of as_machine>#<case>`` runs a case of ``machine``
        in ``config`` (``as_machine``: the name the machine has here, if another). A case
        two files define for one machine is refused: the suffix could not tell them apart."""
        here = as_machine or machine
        for case in config.cases(machine):
            other = self._mock_cases.get((here, case))
            if other is not None and other[0].path != config.path:
                raise MockConfigError(
                    [
                        f"{config.path}: test case {case!r} of state machine {machine!r} is "
                        f"also in {other[0].path}: StartExecution on {here}#{case} cannot "
                        "tell them apart"
                    ]
                )
            self._mock_cases[here, case] = (config, machine)

    def _mock_case(self, machine: str, case: str) -> dict[str, list[Any]] | None:
        found = self._mock_cases.get((machine, case))
        if found is None:
            return None
        config, name = found
        return config.test_case(name, case)  # type: ignore[return-value]

    # --- executions ---------------------------------------------------------------------

    def start(
        self,
        definition: str,
        execution_input: Any,
        substitutions: dict[str, str] | None = None,
        name: str | None = None,
        test_case: str | None = None,
        machine_name: str | None = None,
        mock_config: MockConfig | None = None,
    ) -> str:
        """Starts an execution and returns its ARN without waiting for it. With
        ``test_case``, a case of a mock configuration for the machine ``machine_name``: the
        one of ``mock_config`` if given, else of a registered file."""
        machine_arn = self.create_state_machine(definition, substitutions, machine_name)
        given: Any = contextlib.nullcontext()
        if test_case is not None:
            machine_arn += "#" + test_case  # Step Functions Local's way to start a case
            if mock_config is not None:
                assert machine_name is not None
                given = start_execution.given_case(mock_config.test_case(machine_name, test_case))
        execution_name = name or f"local-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        problem = execution_name_problem(execution_name)
        if problem is not None:  # moto does not check what Step Functions refuses
            raise InvalidInput(f"execution name {execution_name!r} {problem}")
        with given:
            return self.sfn.start_execution(
                stateMachineArn=machine_arn,
                name=execution_name,
                input=json.dumps(execution_input),
            )["executionArn"]

    def wait(self, arn: str, timeout: float | None = None) -> RunResult:
        """Waits for an execution to end (Ctrl-C stops it; so does ``timeout`` seconds,
        ABORTED with a cause that says so) and collects what happened."""
        interrupted = None
        timed_out = False
        try:
            description = self._wait(arn, timeout)
        except TimeoutError:
            timed_out = True
            self.sfn.stop_execution(executionArn=arn, cause=f"did not end within {timeout:g} s")
            description = self._wait(arn)
        except (KeyboardInterrupt, RunInterrupted) as stop:
            interrupted = getattr(stop, "signum", signal.SIGINT)
            name = signal.Signals(interrupted).name
            self.sfn.stop_execution(executionArn=arn, cause=f"Interrupted ({name})")
            description = self._wait(arn)
        execution_name = description["name"]
        started = description["startDate"].timestamp()
        ended = time.time()
        tasks = [
            t for t in self.runtime.tasks.values() if t.context.execution_name == execution_name
        ]
        # Tasks still running belong to a state the execution no longer waits for.
        for task in tasks:
            self.runtime.stop(task.task_arn, "Execution ended")
        for task in tasks:
            task.done.wait(self.stop_timeout + 5)
        return RunResult(
            execution_arn=arn,
            execution_name=execution_name,
            status=description["status"],
            output=json.loads(description["output"]) if description.get("output") else None,
            error=description.get("error"),
            cause=description.get("cause"),
            history=self._history(arn),
            tasks=[self._summary(t) for t in tasks],
            notifications=[
                n
                for n in self.hooks.notifications
                if n.execution == execution_name
                or (n.execution is None and started <= n.received_at <= ended)
            ],
            log_dir=str(self.run_root / path_segment(execution_name)),
            interrupted=interrupted,
            duration=(description["stopDate"] - description["startDate"]).total_seconds()
            if description.get("stopDate")
            else None,
            timed_out=timed_out,
        )

    def run(
        self,
        definition: str,
        execution_input: Any,
        substitutions: dict[str, str] | None = None,
        name: str | None = None,
        on_started: Callable[[str], None] | None = None,
        test_case: str | None = None,
        machine_name: str | None = None,
    ) -> RunResult:
        arn = self.start(definition, execution_input, substitutions, name, test_case, machine_name)
        if on_started is not None:
            on_started(arn)
        return self.wait(arn)

    def create_state_machine(
        self,
        definition: str,
        substitutions: dict[str, str] | None = None,
        name: str | None = None,
    ) -> str:
        """The ARN of a state machine with this definition (created once per definition)."""
        text = parse_definition(substitute(definition, substitutions or {}))
        if (text, name) not in self._machines:
            self._machines[text, name] = self._create_state_machine(text, name)
        return self._machines[text, name]

    def _create_state_machine(self, text: str, name: str | None) -> str:
        # The ASL parser reports syntax errors on stderr as well as in the exception.
        with contextlib.redirect_stderr(io.StringIO()):
            try:
                return self.sfn.create_state_machine(
                    name=name or f"local-{uuid.uuid4().hex[:12]}", definition=text, roleArn=ROLE_ARN
                )["stateMachineArn"]
            except ClientError as error:
                raise InvalidDefinition(
                    f"definition refused: {error.response['Error'].get('Message') or error}"
                ) from None

    def _wait(self, arn: str, timeout: float | None = None) -> dict[str, Any]:
        # Polled on moto's execution object: a DescribeExecution call costs ~5 ms of
        # serialisation under the GIL, which the engine's threads would pay for.
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        backend = stepfunctions_parser_backends[ACCOUNT][REGION]
        (execution,) = [e for e in backend._get_executions() if e.exec_arn == arn]
        deadline = None if timeout is None else time.monotonic() + timeout
        while execution.exec_status is None or execution.exec_status.value not in ENDED:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(arn)
            time.sleep(0.005)
        return self.sfn.describe_execution(executionArn=arn)

    def _history(self, arn: str) -> list[dict[str, Any]]:
        events = []
        paginator = self.sfn.get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=arn):
            for event in page["events"]:
                item: dict[str, Any] = {"id": event["id"], "type": event["type"]}
                for key, details in event.items():
                    if not key.endswith("EventDetails") or not isinstance(details, dict):
                        continue
                    if "name" in details:
                        item["name"] = details["name"]
                    for field_name in HISTORY_FIELDS:
                        if field_name in details:
                            item[field_name] = details[field_name]
                events.append(item)
        return events

    @staticmethod
    def _summary(record: TaskRecord) -> TaskSummary:
        return TaskSummary(
            label=record.label,
            state=record.context.state_name,
            attempt=record.context.attempt,
            task_arn=record.task_arn,
            exit_code=record.exit_code,
            stop_code=record.stop_code,
            started_at=record.started_at,
            stopped_at=record.stopped_at,
            log_file=str(record.log_path),
        )
