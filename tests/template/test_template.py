"""template.yaml: least privilege and the safety settings the design promises, checked as
requests the deployed roles would allow or deny (the template as SAM translates it and
CloudFormation resolves it, every optional part switched on)."""

from __future__ import annotations

import json
import re

import pytest

from longjob.stack.iam_policy import allows
from longjob.stack.template import DeployedTemplate, deployed_template, load_template
from tests.conftest import ROOT

TEXT = (ROOT / "template.yaml").read_text()
TEMPLATE = load_template(ROOT / "template.yaml")
BUCKET = "acme-backups"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def full() -> DeployedTemplate:
    return deployed_template(
        TEMPLATE,
        {
            "DataBucketName": BUCKET,
            "WebhookUrlParameter": "/longjob/webhook",
            "SecretsKmsKeyArn": KEY,
            "NotificationEmail": "ops@example.com",
            "ScheduleExpression": "cron(0 3 * * ? *)",
        },
    )


def arn(stack: DeployedTemplate, service: str, resource: str) -> str:
    return stack.identity.arn(service, resource)


def test_every_wildcard_resource_carries_a_reason() -> None:
    lines = [line for line in TEXT.splitlines() if re.search(r'Resource:\s*"\*"', line)]
    assert lines
    for line in lines:
        assert "#" in line, line
        assert len(line.split("#", 1)[1].strip()) > 15, line


def test_no_wildcard_actions_in_any_role(full: DeployedTemplate) -> None:
    for role in full.of_type("AWS::IAM::Role"):
        for statement in full.policy_statements(role):
            actions = statement["Action"]
            for action in actions if isinstance(actions, list) else [actions]:
                assert not action.endswith("*") or action == "kms:GenerateDataKey*", (role, action)


def test_state_machine_runs_only_the_stack_task_definition_on_the_stack_cluster(
    full: DeployedTemplate,
) -> None:
    role = full.policy_statements("StateMachineRole")
    task_definition = full.ref("TaskDefinition")
    cluster = full.get_att("Cluster", "Arn")
    on_cluster = {"ecs:cluster": cluster}
    assert allows(role, "ecs:RunTask", task_definition, on_cluster)
    assert not allows(role, "ecs:RunTask", task_definition, {"ecs:cluster": cluster + "-other"})
    other_family = task_definition.replace("-toolbox:", "-other:")
    assert not allows(role, "ecs:RunTask", other_family, on_cluster)
    task = arn(full, "ecs", f"task/{full.ref('Cluster')}/0123456789abcdef")
    assert allows(role, "ecs:DescribeTasks", task)
    assert allows(role, "ecs:StopTask", task)
    assert not allows(role, "ecs:StopTask", task.replace(full.ref("Cluster"), "other"))
    assert allows(role, "ecs:TagResource", task, {"ecs:CreateAction": "RunTask"})
    assert not allows(role, "ecs:TagResource", task)
    to_ecs = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    for passed in ("TaskRole", "TaskExecutionRole"):
        assert allows(role, "iam:PassRole", full.get_att(passed, "Arn"), to_ecs)
        assert not allows(role, "iam:PassRole", full.get_att(passed, "Arn"))
    assert not allows(role, "iam:PassRole", full.get_att("StateMachineRole", "Arn"), to_ecs)
    rule = arn(full, "events", "rule/StepFunctionsGetEventsForECSTaskRule")
    for action in ("events:PutRule", "events:PutTargets", "events:DescribeRule"):
        assert allows(role, action, rule)
    for function in ("PrepareJobFunction", "NotifyFunction"):
        assert allows(role, "lambda:InvokeFunction", full.get_att(function, "Arn"))
    assert not allows(role, "lambda:InvokeFunction", arn(full, "lambda", "function:other"))


def test_task_role_reaches_only_its_prefixes_and_bucket(full: DeployedTemplate) -> None:
    role = full.policy_statements("TaskRole")
    assert allows(role, "ssm:GetParameter", arn(full, "ssm", "parameter/longjob/prod/db"))
    assert not allows(role, "ssm:GetParameter", arn(full, "ssm", "parameter/other/db"))
    secret = arn(full, "secretsmanager", "secret:longjob/api-AbCdEf")
    assert allows(role, "secretsmanager:GetSecretValue", secret)
    assert not allows(role, "secretsmanager:GetSecretValue", secret.replace("longjob/", "x/"))
    assert allows(role, "s3:ListBucket", f"arn:aws:s3:::{BUCKET}")
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert allows(role, action, f"arn:aws:s3:::{BUCKET}/postgres/x.dump"), action
        assert not allows(role, action, "arn:aws:s3:::other-bucket/x.dump"), action
    assert not allows(role, "s3:DeleteBucket", f"arn:aws:s3:::{BUCKET}")


def test_without_a_data_bucket_the_tasks_reach_no_bucket() -> None:
    bare = deployed_template(TEMPLATE, {})
    role = bare.policy_statements("TaskRole")
    assert not allows(role, "s3:PutObject", "arn:aws:s3:::any/x")
    assert not allows(role, "s3:ListBucket", "arn:aws:s3:::any")


def test_security_group_has_no_ingress(full: DeployedTemplate) -> None:
    (group,) = full.of_type("AWS::EC2::SecurityGroup").values()
    assert "SecurityGroupIngress" not in group["Properties"]
    assert not full.of_type("AWS::EC2::SecurityGroupIngress")


def test_execution_data_never_reaches_the_state_machine_logs(full: DeployedTemplate) -> None:
    machine = full.properties("JobStateMachine")
    assert machine["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert machine["TracingConfiguration"]["Enabled"] is True
    assert machine["DefinitionS3Location"]["Key"] == "statemachine/job.asl.json"


def test_definition_substitutions_match_the_placeholders(full: DeployedTemplate) -> None:
    definition = (ROOT / "statemachine/job.asl.json").read_text()
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", definition))
    assert placeholders == set(full.properties("JobStateMachine")["DefinitionSubstitutions"])


def test_task_definition(full: DeployedTemplate) -> None:
    task = full.properties("TaskDefinition")
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["NetworkMode"] == "awsvpc"
    assert task["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
    (container,) = task["ContainerDefinitions"]
    assert container["Name"] == "toolbox"
    assert container["ReadonlyRootFilesystem"] is True
    assert int(container["StopTimeout"]) == 120
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == full.ref("TaskLogGroup")
    assert container["Image"] == full.get_att("ToolboxRepository", "RepositoryUri") + ":v1"


def test_repository_scans_and_keeps_tags(full: DeployedTemplate) -> None:
    repository = full.properties("ToolboxRepository")
    assert repository["ImageTagMutability"] == "IMMUTABLE"
    assert repository["ImageScanningConfiguration"] == {"ScanOnPush": True}
    rules = json.loads(repository["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert len(rules) == 1  # untagged images only: see test_backups_kept.py


def test_functions_run_python_313_on_arm64(full: DeployedTemplate) -> None:
    functions = full.of_type("AWS::Lambda::Function")
    layer = full.ref(next(iter(full.of_type("AWS::Lambda::LayerVersion"))))
    for name, function in functions.items():
        props = function["Properties"]
        assert (props["Runtime"], props["Architectures"]) == ("python3.13", ["arm64"]), name
        assert props["Layers"] == [layer], name


def test_schedule_is_disabled_without_an_expression(full: DeployedTemplate) -> None:
    (schedule,) = full.of_type("AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["State"] == "ENABLED"
    assert schedule["Properties"]["ScheduleExpression"] == "cron(0 3 * * ? *)"
    (off,) = deployed_template(TEMPLATE, {}).of_type("AWS::Scheduler::Schedule").values()
    assert off["Properties"]["State"] == "DISABLED"


@pytest.mark.parametrize("metric", ["ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"])
def test_alarms_notify_the_topic(full: DeployedTemplate, metric: str) -> None:
    alarms = full.of_type("AWS::CloudWatch::Alarm")
    assert metric in json.dumps(alarms)
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [full.ref("NotificationTopic")]


def test_outputs(full: DeployedTemplate) -> None:
    assert set(full.outputs) == {
        "StateMachineArn",
        "ClusterArn",
        "RepositoryUri",
        "TopicArn",
        "LogGroupName",
        "RunBucketName",
        "LockTableName",
    }
    assert full.outputs["LogGroupName"]["Value"] == full.ref("TaskLogGroup")
    assert full.outputs["RunBucketName"]["Value"] == full.ref("RunBucket")


def test_the_job_lock_is_taken_by_prepare_job_and_released_by_the_workflow_only(
    full: DeployedTemplate,
) -> None:
    table = full.get_att("JobLockTable", "Arn")
    prepare = full.policy_statements("PrepareJobFunctionRole")
    machine = full.policy_statements("StateMachineRole")
    lock_item = {"dynamodb:LeadingKeys": ["nightly"]}
    for action in ("dynamodb:PutItem", "dynamodb:GetItem"):
        assert allows(prepare, action, table, lock_item), action
        assert not allows(prepare, action, table + "-other", lock_item), action
    assert not allows(prepare, "dynamodb:DeleteItem", table)
    assert not allows(prepare, "states:ListExecutions", full.ref("JobStateMachine"))
    assert allows(machine, "dynamodb:DeleteItem", table)
    assert not allows(machine, "dynamodb:PutItem", table)
    lock = full.properties("JobLockTable")
    assert lock["BillingMode"] == "PAY_PER_REQUEST"
    assert lock["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    functions = full.of_type("AWS::Lambda::Function")
    prepare_env = next(
        f["Properties"]["Environment"]["Variables"]
        for f in functions.values()
        if "LOCK_TABLE" in f["Properties"].get("Environment", {}).get("Variables", {})
    )
    assert prepare_env["LOCK_TABLE"] == full.ref("JobLockTable")


def test_approval_items_are_written_by_notify_and_spent_by_the_workflow_only(
    full: DeployedTemplate,
) -> None:
    """An approval's token and key (lock-table items approval/<execution>): Notify may write
    them and nothing else of the table; prepare_job, which reads every document, may neither
    read nor write them; the state machine deletes them (Check answer)."""
    table = full.get_att("JobLockTable", "Arn")
    approval = {"dynamodb:LeadingKeys": ["approval/nightly-20261201"]}
    lock = {"dynamodb:LeadingKeys": ["nightly"]}
    notify = full.policy_statements("NotifyFunctionRole")
    prepare = full.policy_statements("PrepareJobFunctionRole")
    machine = full.policy_statements("StateMachineRole")
    assert allows(notify, "dynamodb:PutItem", table, approval)
    assert not allows(notify, "dynamodb:PutItem", table, lock)
    assert not allows(notify, "dynamodb:GetItem", table, approval)
    for action in ("dynamodb:PutItem", "dynamodb:GetItem"):
        assert not allows(prepare, action, table, approval), action
    assert allows(machine, "dynamodb:DeleteItem", table, approval)
    for role in ("TaskRole", "TaskExecutionRole", "StageResultsFunctionRole"):
        statements = full.policy_statements(role)
        assert not any(
            allows(statements, action, table, approval)
            for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem")
        ), role


def test_skipped_runs_raise_an_alarm(full: DeployedTemplate) -> None:
    alarm = full.properties("SkippedRunsAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("longjob", "RunsSkipped")
    assert alarm["Dimensions"] == [{"Name": "Stack", "Value": full.identity.name}]
    assert alarm["AlarmActions"] == [full.ref("NotificationTopic")]
    notify_env = full.properties("NotifyFunction")["Environment"]["Variables"]
    assert notify_env["STACK_NAME"] == full.identity.name


def test_notify_may_read_the_task_streams_and_nothing_else_of_the_logs(
    full: DeployedTemplate,
) -> None:
    """A failed task's last lines go into the notification: GetLogEvents on the stack's
    toolbox streams only, no write, no other group, no other log action."""
    group = full.ref("TaskLogGroup")
    stream = f"{arn(full, 'logs', 'log-group:' + group)}:log-stream:toolbox/toolbox/" + "0" * 32
    statements = full.policy_statements("NotifyFunctionRole")
    assert allows(statements, "logs:GetLogEvents", stream)
    assert not allows(statements, "logs:GetLogEvents", stream.replace("/tasks:", "/other:"))
    assert not allows(statements, "logs:GetLogEvents", stream.replace("toolbox/toolbox/", "x/"))
    for action in ("logs:PutLogEvents", "logs:FilterLogEvents", "logs:StartQuery"):
        assert not allows(statements, action, stream), action


def test_a_cached_rendering_is_used_only_for_the_same_template_and_parameters(tmp_path) -> None:
    """Local runs keep the rendered template in .longjob/cache; an edit of the template or
    another parameter value is a different entry, never a stale one."""
    import shutil

    from longjob.stack.template import deployed_template_of_file

    template = tmp_path / "template.yaml"
    shutil.copy(ROOT / "template.yaml", template)
    first = deployed_template_of_file(template, {"LogRetentionDays": "7"})
    (kept,) = (tmp_path / ".longjob" / "cache").glob("template-*.json")
    assert kept.stat().st_mode & 0o777 == 0o600
    again = deployed_template_of_file(template, {"LogRetentionDays": "7"})
    assert again == first
    other = deployed_template_of_file(template, {"LogRetentionDays": "14"})
    assert str(other.properties("TaskLogGroup")["RetentionInDays"]) == "14"
    text = template.read_text()
    days = "  RunDataDays:\n    Type: Number\n    Default: 30\n"
    assert days in text
    template.write_text(text.replace(days, days.replace("30", "31")))
    edited = deployed_template_of_file(template, {"LogRetentionDays": "7"})
    assert (first.parameters["RunDataDays"], edited.parameters["RunDataDays"]) == ("30", "31")
    assert len(list((tmp_path / ".longjob" / "cache").glob("template-*.json"))) == 3
