"""template.yaml: least privilege and the safety settings the design promises."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cfn_tools import load_yaml

from tests.conftest import ROOT

TEXT = (ROOT / "template.yaml").read_text()
TEMPLATE = load_yaml(TEXT)
RESOURCES = TEMPLATE["Resources"]


def props(name: str) -> dict[str, Any]:
    return RESOURCES[name]["Properties"]


def statements(role: str) -> list[dict[str, Any]]:
    found = []
    for policy in props(role).get("Policies", []):
        if "Fn::If" in policy:
            policy = policy["Fn::If"][1]
        found += policy["PolicyDocument"]["Statement"]
    return found


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_every_wildcard_resource_carries_a_reason() -> None:
    lines = [line for line in TEXT.splitlines() if re.search(r'Resource:\s*"\*"', line)]
    assert lines
    for line in lines:
        assert "#" in line, line
        assert len(line.split("#", 1)[1].strip()) > 15, line


def test_no_wildcard_actions_outside_the_key_policy() -> None:
    for role in ("TaskRole", "TaskExecutionRole", "StateMachineRole"):
        for statement in statements(role):
            assert all(not a.endswith(":*") for a in actions(statement)), (role, statement)


def test_state_machine_runs_only_the_stack_task_definition_on_the_stack_cluster() -> None:
    (run_task,) = [s for s in statements("StateMachineRole") if actions(s) == ["ecs:RunTask"]]
    assert "task-definition/${AWS::StackName}-toolbox:*" in run_task["Resource"]["Fn::Sub"]
    assert run_task["Condition"] == {
        "ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["Cluster", "Arn"]}}
    }
    (pass_role,) = [s for s in statements("StateMachineRole") if actions(s) == ["iam:PassRole"]]
    assert pass_role["Resource"] == [
        {"Fn::GetAtt": ["TaskRole", "Arn"]},
        {"Fn::GetAtt": ["TaskExecutionRole", "Arn"]},
    ]
    assert (
        pass_role["Condition"]["StringEquals"]["iam:PassedToService"] == "ecs-tasks.amazonaws.com"
    )
    (events,) = [s for s in statements("StateMachineRole") if "events:PutRule" in actions(s)]
    assert events["Resource"]["Fn::Sub"].endswith(":rule/StepFunctionsGetEventsForECSTaskRule")
    (invoke,) = [
        s for s in statements("StateMachineRole") if actions(s) == ["lambda:InvokeFunction"]
    ]
    assert invoke["Resource"] == [
        {"Fn::GetAtt": ["PrepareJobFunction", "Arn"]},
        {"Fn::GetAtt": ["NotifyFunction", "Arn"]},
    ]
    for statement in statements("StateMachineRole"):
        if any(a.startswith("ecs:") for a in actions(statement)) and "ecs:RunTask" not in actions(
            statement
        ):
            assert statement["Resource"]["Fn::Sub"].endswith(":task/${Cluster}/*")


def test_task_role_reaches_only_its_prefixes_and_bucket() -> None:
    policy = statements("TaskRole")
    ssm = next(s for s in policy if "ssm:GetParameter" in actions(s))
    assert ssm["Resource"]["Fn::Sub"].endswith(":parameter${SsmParameterPrefix}*")
    secrets = next(s for s in policy if actions(s) == ["secretsmanager:GetSecretValue"])
    assert secrets["Resource"]["Fn::Sub"].endswith(":secret:${SecretsManagerPrefix}*")
    bucket_policy = props("TaskRole")["Policies"][1]["Fn::If"]
    assert bucket_policy[0] == "HasDataBucket"
    assert bucket_policy[2] == {"Ref": "AWS::NoValue"}
    bucket = bucket_policy[1]["PolicyDocument"]["Statement"]
    assert [s["Resource"]["Fn::Sub"] for s in bucket] == [
        "arn:${AWS::Partition}:s3:::${DataBucketName}",
        "arn:${AWS::Partition}:s3:::${DataBucketName}/*",
    ]


def test_security_group_has_no_ingress() -> None:
    group = props("TaskSecurityGroup")
    assert "SecurityGroupIngress" not in group
    assert not [r for r in RESOURCES.values() if r["Type"] == "AWS::EC2::SecurityGroupIngress"]


def test_execution_data_never_reaches_the_state_machine_logs() -> None:
    machine = props("JobStateMachine")
    assert machine["Logging"]["IncludeExecutionData"] is False
    assert machine["Tracing"]["Enabled"] is True
    assert machine["DefinitionUri"] == "statemachine/job.asl.json"


def test_definition_substitutions_match_the_placeholders() -> None:
    definition = (ROOT / "statemachine/job.asl.json").read_text()
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", definition))
    assert placeholders == set(props("JobStateMachine")["DefinitionSubstitutions"])


def test_task_definition() -> None:
    task = props("TaskDefinition")
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["NetworkMode"] == "awsvpc"
    assert TEMPLATE["Parameters"]["CpuArchitecture"]["Default"] == "ARM64"
    (container,) = task["ContainerDefinitions"]
    assert container["Name"] == "toolbox"
    assert container["ReadonlyRootFilesystem"] is True
    assert container["StopTimeout"] == {"Ref": "StopTimeout"}
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": "TaskLogGroup"}


def test_repository_scans_and_keeps_tags() -> None:
    repository = props("ToolboxRepository")
    assert repository["ImageTagMutability"] == "IMMUTABLE"
    assert repository["ImageScanningConfiguration"] == {"ScanOnPush": True}
    rules = json.loads(repository["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert len(rules) == 2


def test_functions_run_python_313_on_arm64() -> None:
    globals_ = TEMPLATE["Globals"]["Function"]
    assert (globals_["Runtime"], globals_["Architectures"]) == ("python3.13", ["arm64"])
    for name in ("PrepareJobFunction", "NotifyFunction"):
        assert props(name)["Layers"] == [{"Ref": "CoreLayer"}]


def test_schedule_is_disabled_without_an_expression() -> None:
    schedule = props("JobStateMachine")["Events"]["Schedule"]
    assert schedule["Type"] == "ScheduleV2"
    assert schedule["Properties"]["State"] == {"Fn::If": ["HasSchedule", "ENABLED", "DISABLED"]}
    assert TEMPLATE["Parameters"]["ScheduleExpression"]["Default"] == ""


@pytest.mark.parametrize("metric", ["ExecutionsFailed", "ExecutionsTimedOut"])
def test_alarms_notify_the_topic(metric: str) -> None:
    text = json.dumps([props(n) for n in ("FailedExecutionsAlarm", "TimedOutExecutionsAlarm")])
    assert metric in text
    for name in ("FailedExecutionsAlarm", "TimedOutExecutionsAlarm"):
        assert props(name)["AlarmActions"] == [{"Ref": "NotificationTopic"}]


def test_outputs() -> None:
    assert set(TEMPLATE["Outputs"]) == {
        "StateMachineArn",
        "ClusterArn",
        "RepositoryUri",
        "TopicArn",
        "LogGroupName",
    }
