"""Resolving a deployed stack from its outputs, and AWS errors as one clear line."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner

from longjob.cli import main
from longjob.cli.operate import execution_name
from longjob.stack.deployed import Aws, AwsError

MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:longjob-prod-job"


def stubbed_aws() -> tuple[Aws, Stubber]:
    aws = Aws(region="eu-west-1")
    client = boto3.client(
        "cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    aws.__dict__["cloudformation"] = client  # cached_property: the stubbed client is used
    return aws, Stubber(client)


def stack_response(outputs: dict[str, str]) -> dict:
    return {
        "Stacks": [
            {
                "StackName": "longjob-prod",
                "CreationTime": datetime(2026, 11, 1, tzinfo=UTC),
                "StackStatus": "CREATE_COMPLETE",
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            }
        ]
    }


def test_stack_resources_come_from_outputs() -> None:
    aws, stubber = stubbed_aws()
    stubber.add_response(
        "describe_stacks",
        stack_response({"StateMachineArn": MACHINE, "LogGroupName": "/longjob/longjob-prod/tasks"}),
        {"StackName": "longjob-prod"},
    )
    with stubber:
        stack = aws.stack("longjob-prod")
    assert stack.region == "eu-west-1"
    assert stack.log_group == "/longjob/longjob-prod/tasks"
    assert stack.execution_arn("nightly-1") == (
        "arn:aws:states:eu-west-1:123456789012:execution:longjob-prod-job:nightly-1"
    )
    arn = stack.execution_arn("nightly-1")
    assert stack.execution_arn(arn) == arn


def test_a_stack_that_is_not_longjobs_is_named() -> None:
    aws, stubber = stubbed_aws()
    stubber.add_response("describe_stacks", stack_response({"BucketName": "x"}))
    with stubber, pytest.raises(AwsError) as raised:
        aws.stack("other")
    assert str(raised.value) == (
        "stack other has no output LogGroupName, StateMachineArn: is it a longjob stack "
        "(template.yaml)?"
    )


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (
            "AccessDenied",
            "User: x is not authorized",
            "not allowed to call DescribeStacks: User: x",
        ),
        ("ValidationError", "Stack with id nope does not exist", "stack not found: Stack with id"),
        ("Throttling", "Rate exceeded", "DescribeStacks failed: Throttling: Rate exceeded"),
    ],
)
def test_aws_errors_are_one_line(code: str, message: str, expected: str) -> None:
    aws, stubber = stubbed_aws()
    stubber.add_client_error("describe_stacks", code, message)
    with stubber, pytest.raises(AwsError) as raised:
        aws.stack("nope")
    assert str(raised.value).startswith(expected)
    assert raised.value.exit_code == 1


def test_no_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = CliRunner().invoke(main, ["history", "--stack", "s", "--region", "eu-west-1"])
    assert result.exit_code == 1
    assert result.output.startswith("longjob: no AWS credentials found")


def test_execution_names_are_readable_unique_and_short_enough() -> None:
    now = datetime(2026, 11, 30, 3, tzinfo=UTC)
    name = execution_name("nightly-maintenance", now)
    assert name.startswith("nightly-maintenance-20261130T030000Z-")
    assert name != execution_name("nightly-maintenance", now)
    assert len(execution_name("j" * 64, now)) <= 80
