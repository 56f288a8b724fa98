"""What AWS authorizes for a call, and how a refusal reads (engine.iam_requests, authorization)."""

from __future__ import annotations

import pytest

from longjob.engine.authorization import AccessDenied, Authorizer, Principal
from longjob.engine.iam_requests import Call, Identity, kms_key_arn, requests_for
from longjob.stack.iam_policy import Request
from longjob.stack.roles import Role, Statement

HERE = Identity("us-east-1", "123456789012")
TASK = "arn:aws:ecs:us-east-1:123456789012:task/longjob-Cluster/0123abcd"


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            Call("s3", "PutObject", {"Bucket": "b", "Key": "db/x.dump"}),
            ("s3:PutObject", "arn:aws:s3:::b/db/x.dump"),
        ),
        (Call("s3", "ListObjectsV2", {"Bucket": "b"}), ("s3:ListBucket", "arn:aws:s3:::b")),
        (
            Call("s3", "HeadObject", {"Bucket": "b", "Key": "k"}),
            ("s3:GetObject", "arn:aws:s3:::b/k"),
        ),
        (
            Call("lambda", "Invoke", {"FunctionName": "arn:aws:lambda:us-east-1:1:function:f"}),
            ("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:f"),
        ),
        (
            Call("dynamodb", "PutItem", {"TableName": "locks"}),
            ("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/locks"),
        ),
        (
            Call("ssm", "GetParameter", {"Name": "/longjob/db"}),
            ("ssm:GetParameter", "arn:aws:ssm:us-east-1:123456789012:parameter/longjob/db"),
        ),
        (
            Call(
                "secretsmanager",
                "GetSecretValue",
                {"SecretId": "arn:aws:secretsmanager:us-east-1:1:secret:longjob/db-AbCdEf"},
            ),
            (
                "secretsmanager:GetSecretValue",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:longjob/db-AbCdEf",
            ),
        ),
        (
            # A stream, not the group: the resource type the Service Authorization Reference
            # gives for both writing actions.
            Call("logs", "CreateLogStream", {"logGroupName": "/g", "logStreamName": "t/1"}),
            (
                "logs:CreateLogStream",
                "arn:aws:logs:us-east-1:123456789012:log-group:/g:log-stream:t/1",
            ),
        ),
        (
            Call("ecs", "RunTask", {"taskDefinition": "longjob-toolbox:3", "cluster": "c"}),
            ("ecs:RunTask", "arn:aws:ecs:us-east-1:123456789012:task-definition/longjob-toolbox:3"),
        ),
        (
            Call("ecs", "DescribeTasks", {"tasks": [TASK]}),
            (
                "ecs:DescribeTasks",
                "arn:aws:ecs:us-east-1:123456789012:task/longjob-Cluster/0123abcd",
            ),
        ),
        (
            Call(
                "states", "DescribeExecution", {"executionArn": "arn:aws:states:r:a:execution:m:e"}
            ),
            ("states:DescribeExecution", "arn:aws:states:us-east-1:123456789012:execution:m:e"),
        ),
        (Call("cloudwatch", "PutMetricData", {}), ("cloudwatch:PutMetricData", "*")),
        # Unknown resource: authorized against "*", so only a statement on "*" allows it.
        (Call("kms", "Decrypt", {}), ("kms:Decrypt", "*")),
    ],
)
def test_a_call_is_authorized_as_its_action_on_its_resource(call: Call, expected: tuple) -> None:
    assert [(r.action, r.resource) for r in requests_for(call, HERE)] == [expected]


def test_bulk_delete_asks_for_each_key() -> None:
    call = Call("s3", "DeleteObjects", {"Bucket": "b", "Key": ["a", "c/d"]})
    assert [r.resource for r in requests_for(call, HERE)] == [
        "arn:aws:s3:::b/a",
        "arn:aws:s3:::b/c/d",
    ]


def test_kms_keys_are_named_by_arn_and_aws_managed_keys_need_no_identity_policy() -> None:
    assert kms_key_arn("1234-ab", HERE) == "arn:aws:kms:us-east-1:123456789012:key/1234-ab"
    assert kms_key_arn("alias/mine", HERE) == "arn:aws:kms:us-east-1:123456789012:alias/mine"
    assert kms_key_arn("alias/aws/sns", HERE) is None
    assert kms_key_arn("arn:aws:kms:eu-west-1:1:key/x", HERE) == "arn:aws:kms:eu-west-1:1:key/x"


def role(*documents: dict) -> Role:
    statements = tuple(Statement("inline", i, d) for i, d in enumerate(documents))
    return Role(
        "TaskRole", "stack-TaskRole", "arn:aws:iam::123456789012:role/stack-TaskRole", statements
    )


READ = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
NO_SECRETS = {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::b/secret/*"}
TRACE = {"Effect": "Allow", "Action": "xray:PutTraceSegments", "Resource": "*"}


def test_refusals_read_as_aws_writes_them() -> None:
    authorizer = Authorizer()
    principal = Principal(role(READ, NO_SECRETS), "task-1")
    with pytest.raises(AccessDenied) as implicit:
        authorizer.check(principal, [Request("s3:PutObject", "arn:aws:s3:::b/x")])
    assert implicit.value.message == (
        "User: arn:aws:sts::123456789012:assumed-role/stack-TaskRole/task-1 is not authorized "
        "to perform: s3:PutObject on resource: arn:aws:s3:::b/x because no identity-based "
        "policy allows the s3:PutObject action"
    )
    with pytest.raises(AccessDenied) as explicit:
        authorizer.check(principal, [Request("s3:GetObject", "arn:aws:s3:::b/secret/k")])
    assert explicit.value.message.endswith(
        "s3:GetObject on resource: arn:aws:s3:::b/secret/k with an explicit deny in an "
        "identity-based policy"
    )


def test_nobody_known_is_not_checked_and_acting_as_wins_over_the_key() -> None:
    authorizer = Authorizer()
    task = Principal(role(READ), "task")
    function = Principal(role(TRACE), "fn")
    authorizer.register("AKIATASK", task)
    assert authorizer.principal("AKIAOPERATOR") is None
    assert authorizer.principal("AKIATASK") is task
    with authorizer.acting_as(function):
        assert authorizer.principal("AKIATASK") is function
    authorizer.check(None, [Request("iam:CreateUser", "*")])  # the person running it


def test_the_report_lists_what_was_used_and_why_the_rest_was_not() -> None:
    authorizer = Authorizer()
    principal = Principal(role(READ, NO_SECRETS, TRACE), "task")
    authorizer.register("AKIATASK", principal)
    authorizer.check(principal, [Request("s3:GetObject", "arn:aws:s3:::b/k")])
    with pytest.raises(AccessDenied):
        authorizer.check(principal, [Request("s3:PutObject", "arn:aws:s3:::b/k")])
    (row,) = authorizer.report()
    assert row["role"] == "stack-TaskRole"
    assert row["used"] == [{"action": "s3:GetObject", "resource": "arn:aws:s3:::b/k"}]
    assert row["usedStatements"] == ["inline[0]"]
    assert row["unusedStatements"] == ["inline[1]", "inline[2]"]
    assert row["notes"] == {"inline[2]": "X-Ray tracing is not emulated"}
    assert len(row["denied"]) == 1
    assert "s3:PutObject" in row["denied"][0]
