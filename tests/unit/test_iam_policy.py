"""longjob.stack.iam_policy: AWS's identity-policy evaluation, on the cases AWS documents."""

from __future__ import annotations

import pytest

from longjob.stack.iam_policy import Request, UnsupportedPolicy, allows, decide

BUCKET = "arn:aws:s3:::amzn-s3-demo-bucket"


def test_no_statement_is_an_implicit_deny() -> None:
    assert decide([], Request("s3:GetObject", f"{BUCKET}/x")) == "ImplicitDeny"


def test_an_explicit_deny_wins_over_any_allow() -> None:
    statements = [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": f"{BUCKET}/*"},
    ]
    assert decide(statements, Request("s3:DeleteObject", f"{BUCKET}/x")) == "ExplicitDeny"
    assert decide(statements, Request("s3:GetObject", f"{BUCKET}/x")) == "Allow"


def test_actions_match_case_insensitively_with_wildcards() -> None:
    statements = [{"Effect": "Allow", "Action": "S3:Get*", "Resource": "*"}]
    assert allows(statements, "s3:GetObject", "x")
    assert allows(statements, "s3:getobjectversion", "x")
    assert not allows(statements, "s3:PutObject", "x")
    single = [{"Effect": "Allow", "Action": "ssm:GetParameter?", "Resource": "*"}]
    assert allows(single, "ssm:GetParameters", "x")
    assert not allows(single, "ssm:GetParameter", "x")


def test_resources_match_case_sensitively_and_dots_are_literal() -> None:
    statements = [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/logs/*"}]
    assert allows(statements, "s3:GetObject", f"{BUCKET}/logs/2026/x.gz")
    assert not allows(statements, "s3:GetObject", f"{BUCKET}/LOGS/x.gz")
    dotted = [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::a.b/*"}]
    assert not allows(dotted, "s3:GetObject", "arn:aws:s3:::axb/k")


def test_not_action_and_not_resource() -> None:
    statements = [{"Effect": "Allow", "NotAction": "iam:*", "NotResource": f"{BUCKET}/secret/*"}]
    assert allows(statements, "s3:GetObject", f"{BUCKET}/public/x")
    assert not allows(statements, "s3:GetObject", f"{BUCKET}/secret/x")
    assert not allows(statements, "iam:PassRole", "arn:aws:iam::1:role/r")


def test_conditions_all_blocks_all_keys_any_value() -> None:
    statements = [
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:ViaService": ["ssm.eu-west-1.amazonaws.com", "x"]},
                "ArnLike": {"aws:SourceArn": "arn:aws:ecs:eu-west-1:*:task/*"},
            },
        }
    ]
    good = {
        "kms:ViaService": "ssm.eu-west-1.amazonaws.com",
        "aws:SourceArn": "arn:aws:ecs:eu-west-1:123456789012:task/c/abc",
    }
    assert allows(statements, "kms:Decrypt", "k", good)
    assert not allows(statements, "kms:Decrypt", "k", {**good, "kms:ViaService": "s3"})
    assert not allows(statements, "kms:Decrypt", "k", {"kms:ViaService": good["kms:ViaService"]})


def test_a_missing_key_fails_positive_operators_and_passes_negated_ones() -> None:
    def statement(operator: str) -> list[dict[str, object]]:
        condition = {operator: {"aws:PrincipalTag/team": "ops"}}
        return [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}]

    assert not allows(statement("StringEquals"), "s3:GetObject", "x")
    assert allows(statement("StringNotEquals"), "s3:GetObject", "x")
    assert allows(statement("StringEqualsIfExists"), "s3:GetObject", "x")
    null = [
        {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Null": {"k": "true"}}}
    ]
    assert allows(null, "s3:GetObject", "x")
    assert not allows(null, "s3:GetObject", "x", {"k": "v"})


def test_arn_like_matches_each_arn_part() -> None:
    statements = [
        {
            "Effect": "Allow",
            "Action": "ecs:RunTask",
            "Resource": "*",
            "Condition": {"ArnLike": {"ecs:cluster": "arn:aws:ecs:*:123456789012:cluster/prod-*"}},
        }
    ]
    arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/prod-jobs"
    assert allows(statements, "ecs:RunTask", "t", {"ecs:cluster": arn})
    other_account = arn.replace("123456789012", "999999999999")
    assert not allows(statements, "ecs:RunTask", "t", {"ecs:cluster": other_account})


def test_for_all_values_and_for_any_value_test_each_value() -> None:
    """IAM's set operators: ForAllValues holds when every value matches (and when the
    request has none, IAM's documented rule); ForAnyValue when one does."""
    every = [
        {
            "Effect": "Allow",
            "Action": "dynamodb:PutItem",
            "Resource": "*",
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["approval/*"]}},
        }
    ]
    assert allows(every, "dynamodb:PutItem", "t", {"dynamodb:LeadingKeys": ["approval/run-1"]})
    assert not allows(every, "dynamodb:PutItem", "t", {"dynamodb:LeadingKeys": ["nightly"]})
    assert not allows(
        every, "dynamodb:PutItem", "t", {"dynamodb:LeadingKeys": ["approval/x", "nightly"]}
    )
    assert allows(every, "dynamodb:PutItem", "t", {})  # no key: ForAllValues holds
    some = [{**every[0], "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}}]
    assert allows(some, "dynamodb:PutItem", "t", {"aws:TagKeys": ["b", "a"]})
    assert not allows(some, "dynamodb:PutItem", "t", {"aws:TagKeys": ["b"]})
    assert not allows(some, "dynamodb:PutItem", "t", {})


@pytest.mark.parametrize(
    "condition",
    [
        {"ForAnyValue:ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}},
        {"ForAllValues:Null": {"aws:TagKeys": "true"}},
        {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}},
        {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    ],
)
def test_what_is_not_implemented_is_refused_loudly(condition: dict[str, object]) -> None:
    statements = [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}]
    with pytest.raises(UnsupportedPolicy):
        allows(statements, "s3:GetObject", "x", {"aws:TagKeys": "a"})


def test_policy_variables_are_refused_loudly() -> None:
    statements = [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/${aws:username}/*"}
    ]
    with pytest.raises(UnsupportedPolicy):
        allows(statements, "s3:GetObject", "arn:aws:s3:::b/me/x")
