"""The project's stack on this machine, reachable as a deployed stack is.

A LocalStack runs the local engine with the stack's resources as the template declares them
(the data bucket, the lock table, the task log group the tasks' lines go to, as awslogs
sends them), creates the state machine under the name the stack gives it, and registers a
CloudFormation stack with the outputs a deployed longjob stack has. The commands that
operate a deployed stack (start, watch, logs, status...) then work on it unchanged, through
the same boto3 calls: `longjob run JOB.json` is `start --follow` against it.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from longjob.engine.launchers import Launcher
from longjob.engine.local_engine import LocalEngine
from longjob.stack.application import LocalApplication
from longjob.stack.deployed import Aws, Stack
from longjob.stack.template import LOCAL_REGION, LOCAL_STACK

# The state machine resource of template.yaml (its physical name comes from the template).
STATE_MACHINE = "JobStateMachine"


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
    ) -> None:
        self.application = application
        self.name = LOCAL_STACK
        self.engine = LocalEngine(
            application.project,
            launcher,
            functions=dict(application.functions),
            stop_timeout=stop_timeout,
            log_group=application.substitutions["LogGroupName"],
        )
        self.secrets = secrets or {}
        self._stack = contextlib.ExitStack()
        self.aws: Aws | None = None
        self.stack: Stack | None = None

    def __enter__(self) -> LocalStack:
        engine = self._stack.enter_context(self.engine)
        seed_secrets(engine, self.secrets)
        self.application.create_buckets(engine.aws_client("s3"))
        self.application.create_tables(engine.aws_client("dynamodb"))
        deployed = self.application.stack
        assert deployed is not None
        machine = engine.create_state_machine(
            self.application.definition,
            self.application.substitutions,
            name=deployed.get_att(STATE_MACHINE, "Name"),
        )
        outputs = {key: str(output["Value"]) for key, output in deployed.outputs.items()}
        outputs["StateMachineArn"] = machine
        engine.aws_client("cloudformation").create_stack(
            StackName=self.name,
            TemplateBody=json.dumps(
                {
                    # CloudFormation needs a resource; the outputs are what longjob reads.
                    "Resources": {"Outputs": {"Type": "AWS::SNS::Topic"}},
                    "Outputs": {key: {"Value": value} for key, value in outputs.items()},
                }
            ),
        )
        # The clients a deployed stack's commands use, answered by the embedded AWS.
        self.aws = Aws(region=LOCAL_REGION)
        self.stack = self.aws.stack(self.name)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def log_dir(self, execution_arn: str) -> str:
        """Where the run's task logs are kept on this machine, one file per attempt."""
        from longjob.engine.task_record import path_segment

        return str(self.engine.run_root / path_segment(execution_arn.rsplit(":", 1)[-1]))

    def end(self, execution_arn: str) -> Any:
        """Waits for the execution's leftovers: tasks still running are stopped."""
        return self.engine.wait(execution_arn)
