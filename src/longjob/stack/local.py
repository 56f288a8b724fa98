"""The project's stack on this machine, reachable as a deployed stack is.

A LocalStack runs the local engine with the stack's resources as the template declares them
(the data bucket, the lock table, the task log group the tasks' lines go to, as awslogs
sends them), creates the state machine under the name the stack gives it, and describes the
stack by the outputs a deployed longjob stack has. The commands that operate a deployed
stack (start, watch, logs, status...) then work on it unchanged, through the same boto3
calls: `longjob run JOB.json` is `start --follow` against it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from longjob.engine.authorization import AccessDenied, Authorizer, Principal
from longjob.engine.launchers import Launcher
from longjob.engine.local_engine import LocalEngine
from longjob.engine.patches.iam_checks import STEP_FUNCTIONS_KEY
from longjob.errors import TemplateError
from longjob.stack.application import LocalApplication
from longjob.stack.deployed import Aws, Stack, stack_of
from longjob.stack.iam_policy import Request
from longjob.stack.roles import principals_of
from longjob.stack.template import LOCAL_REGION, LOCAL_STACK

# The state machine resource of template.yaml (its physical name comes from the template).
STATE_MACHINE = "JobStateMachine"
# The EventBridge rule Step Functions manages for ecs:runTask.sync; creating or updating a
# state machine that uses it fails unless its role may manage the rule (docs/aws-facts.md).
ECS_SYNC_RULE = "StepFunctionsGetEventsForECSTaskRule"
MANAGED_RULE_ACTIONS = ("events:PutTargets", "events:PutRule", "events:DescribeRule")


def authorizer_for(application: LocalApplication, engine: LocalEngine) -> Authorizer:
    """Who makes which call, as on AWS: the state machine's calls are its role's, the
    tasks' scripts' the task role's, the awslogs writes the task execution role's, each
    function's handler its own role's."""
    assert application.stack is not None
    principals = principals_of(application.stack)
    authorizer = Authorizer()
    for role in principals.roles.values():
        authorizer.add_role(role)
    roles = principals.roles
    if principals.state_machine in roles:
        authorizer.register(
            STEP_FUNCTIONS_KEY, Principal(roles[principals.state_machine], "StepFunctions")
        )
    if principals.task in roles:
        authorizer.register(
            engine.credentials.access_key_id, Principal(roles[principals.task], "task")
        )
    if principals.task_execution in roles:
        engine.log_writer = Principal(roles[principals.task_execution], "task")
    authorizer.passed_to_ecs = [
        arn for arn in (principals.task, principals.task_execution) if arn is not None
    ]
    return authorizer


def managed_rule_problem(authorizer: Authorizer, definition: str) -> str | None:
    """Why CreateStateMachine would refuse the definition: its role may not manage the rule
    behind ecs:runTask.sync."""
    if "arn:aws:states:::ecs:runTask.sync" not in definition:
        return None
    principal = authorizer.principal(STEP_FUNCTIONS_KEY)
    if principal is None:
        return None
    rule = f"arn:aws:events:{LOCAL_REGION}:{principal.role.arn.split(':')[4]}:rule/{ECS_SYNC_RULE}"
    try:
        authorizer.check(principal, [Request(action, rule) for action in MANAGED_RULE_ACTIONS])
    except AccessDenied as denial:
        return (
            f"AccessDeniedException: '{principal.role.arn}' is not authorized to create "
            f"managed-rule. ({denial.message})"
        )
    return None


def seed_secrets(engine: LocalEngine, secrets: dict[str, str]) -> None:
    """Stores ``{"ssm:/path": value, "secretsmanager:name": value}`` in the embedded SSM and
    Secrets Manager the tasks resolve their references against."""
    ssm = engine.aws_client("ssm")
    secretsmanager = engine.aws_client("secretsmanager")
    for reference, value in secrets.items():
        if reference.startswith("ssm:"):
            ssm.put_parameter(
                Name=reference[len("ssm:") :], Value=value, Type="SecureString", Overwrite=True
            )
        else:
            secretsmanager.create_secret(
                Name=reference[len("secretsmanager:") :], SecretString=value
            )


class LocalStack:
    def __init__(
        self,
        application: LocalApplication,
        launcher: Launcher,
        stop_timeout: float,
        secrets: dict[str, str] | None = None,
        iam: bool = True,
    ) -> None:
        self.application = application
        self.name = LOCAL_STACK
        self.engine = LocalEngine(
            application.project,
            launcher,
            functions=dict(application.functions),
            stop_timeout=stop_timeout,
            log_group=application.substitutions["LogGroupName"],
            task_definition=application.task_definition(),
        )
        self.engine.hooks.topic_keys = application.topic_keys()
        if iam:
            self.engine.enforce(authorizer_for(application, self.engine))
        self.secrets = secrets or {}
        self._stack = contextlib.ExitStack()
        self.aws: Aws | None = None
        self.stack: Stack | None = None
        self.outputs: dict[str, str] = {}

    def __enter__(self) -> LocalStack:
        try:
            return self._enter()
        except BaseException:
            # __exit__ is not called when __enter__ fails: stop the engine (and its mock)
            # here, or it outlives the error.
            self._stack.close()
            raise

    def _enter(self) -> LocalStack:
        engine = self._stack.enter_context(self.engine)
        seed_secrets(engine, self.secrets)
        self.application.create_buckets(engine.aws_client("s3"))
        self.application.create_tables(engine.aws_client("dynamodb"))
        deployed = self.application.stack
        assert deployed is not None
        if engine.authorizer is not None:
            problem = managed_rule_problem(engine.authorizer, self.application.definition)
            if problem is not None:
                raise TemplateError(f"{STATE_MACHINE}: sam deploy would fail: {problem}")
        machine = engine.create_state_machine(
            self.application.definition,
            self.application.substitutions,
            name=deployed.get_att(STATE_MACHINE, "Name"),
        )
        outputs = {key: str(output["Value"]) for key, output in deployed.outputs.items()}
        outputs["StateMachineArn"] = machine
        self.outputs = outputs
        # The clients a deployed stack's commands use, answered by the embedded AWS, and
        # the stack as its outputs describe it. (Not registered with CloudFormation: moto's
        # takes about a second to import, a third of a local run's start.)
        self.aws = Aws(region=LOCAL_REGION)
        self.stack = stack_of(self.name, outputs)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def use_mock_config(self, config: Any, machine: str) -> None:
        """Executions started on ``<machine ARN>#<case>`` get the case's mocked responses:
        the file's ``machine`` is this stack's state machine."""
        from longjob.mocking.runner import check_mocked_states

        check_mocked_states(
            config,
            machine,
            self.application.definition,
            self.application.substitutions,
            str(self.application.definition_path),
        )
        assert self.stack is not None
        deployed_name = self.stack.state_machine_arn.rsplit(":", 1)[-1]
        self.engine.register_mock_config(config, machine, as_machine=deployed_name)

    def log_dir(self, execution_arn: str) -> str:
        """Where the run's task logs are kept on this machine, one file per attempt."""
        from longjob.engine.task_record import path_segment

        return str(self.engine.run_root / path_segment(execution_arn.rsplit(":", 1)[-1]))

    def log_file(self, task_id: str) -> str | None:
        """The file on this machine that holds a task's lines (its log stream's copy)."""
        for record in list(self.engine.runtime.tasks.values()):
            if record.task_arn.endswith("/" + task_id) and record.log_path.exists():
                return str(record.log_path)
        return None

    def iam_report(self) -> list[dict[str, Any]] | None:
        """Per role, what the run's calls needed (None when IAM was not checked)."""
        authorizer = self.engine.authorizer
        return None if authorizer is None else authorizer.report()

    def end(self, execution_arn: str) -> Any:
        """Waits for the execution's leftovers: tasks still running are stopped."""
        return self.engine.wait(execution_arn)
