"""A deployed longjob stack: its resources (from the stack's outputs) and AWS errors as
clear messages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from longjob.errors import UserError


class AwsError(UserError):
    exit_code = 1


@dataclass(frozen=True)
class Stack:
    name: str
    state_machine_arn: str
    log_group: str
    cluster_arn: str
    topic_arn: str
    repository_uri: str
    lock_table: str = ""  # the jobs' locks and the pending approvals (LockTableName)

    @property
    def region(self) -> str:
        return self.state_machine_arn.split(":")[3]

    def execution_arn(self, execution: str) -> str:
        """An execution ARN from an ARN or a bare execution name."""
        if execution.startswith("arn:"):
            return execution
        return self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{execution}"


def explain(error: Exception) -> str:
    """One line a user can act on."""
    if isinstance(error, NoCredentialsError):
        return (
            "no AWS credentials found (set AWS_PROFILE, or run `aws configure` / `aws sso login`)"
        )
    if isinstance(error, NoRegionError):
        return "no AWS region set (use --region, AWS_REGION or your profile's region)"
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        operation = error.operation_name
        if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
            return f"not allowed to call {operation}: {message}"
        if code == "ExecutionDoesNotExist":
            return f"execution not found: {message}"
        if code == "ValidationError" and "does not exist" in message:
            return f"stack not found: {message}"
        return f"{operation} failed: {code}: {message}"
    return f"{type(error).__name__}: {error}"


def aws_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """AWS and credential errors become an AwsError: one line, exit 1, no traceback."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (ClientError, BotoCoreError) as error:
            raise AwsError(explain(error)) from None

    return wrapper


class Aws:
    """The clients a command needs, from one boto3 session (profile/region the usual way;
    AWS_ENDPOINT_URL is honoured by boto3 itself). A local stack server is reached at its
    ``endpoint`` with its own ``credentials``."""

    def __init__(
        self,
        profile: str | None = None,
        region: str | None = None,
        endpoint: str | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        key, secret = credentials or (None, None)
        self.session = boto3.session.Session(
            profile_name=profile,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
        )
        self.endpoint = endpoint

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint)

    @functools.cached_property
    def sfn(self) -> Any:
        return self.client("stepfunctions")

    @functools.cached_property
    def logs(self) -> Any:
        return self.client("logs")

    @functools.cached_property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @functools.cached_property
    def sts(self) -> Any:
        return self.client("sts")

    @functools.cached_property
    def cloudformation(self) -> Any:
        return self.client("cloudformation")

    @aws_errors
    def stack(self, name: str) -> Stack:
        stacks = self.cloudformation.describe_stacks(StackName=name)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        return stack_of(name, outputs)


def stack_of(name: str, outputs: dict[str, str]) -> Stack:
    """A longjob stack from its outputs (a deployed stack's, or the local stack's)."""
    missing = {"StateMachineArn", "LogGroupName"} - set(outputs)
    if missing:
        raise AwsError(
            f"stack {name} has no output {', '.join(sorted(missing))}: "
            "is it a longjob stack (template.yaml)?"
        )
    return Stack(
        name=name,
        state_machine_arn=outputs["StateMachineArn"],
        log_group=outputs["LogGroupName"],
        cluster_arn=outputs.get("ClusterArn", ""),
        topic_arn=outputs.get("TopicArn", ""),
        repository_uri=outputs.get("RepositoryUri", ""),
        lock_table=outputs.get("LockTableName", ""),
    )
