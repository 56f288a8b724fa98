"""What AWS would reject or break, checked on the template as SAM translates it and
CloudFormation resolves it (longjob.stack.template): one test per finding of the deploy
review (issue 8), each against the AWS behaviour docs/aws-facts.md records."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from longjob_core.limits import CFN_PARAMETER_BYTES, STATE_MACHINE_NAME_CHARS
from longjob_core.validation import FARGATE_MEMORY, check

from longjob.errors import TemplateError
from longjob.stack.application import samconfig_parameters
from longjob.stack.iam_policy import allows
from longjob.stack.template import (
    DeployedTemplate,
    StackIdentity,
    deployed_template,
    load_template,
    rule_violations,
)
from tests.conftest import ROOT

TEMPLATE = load_template(ROOT / "template.yaml")
TEXT = (ROOT / "template.yaml").read_text()
ENVIRONMENTS = ["default", "prod"]


def stack(**parameters: str) -> DeployedTemplate:
    return deployed_template(TEMPLATE, parameters)


@pytest.fixture(scope="module")
def default() -> DeployedTemplate:
    return stack(DataBucketName="longjob-example-backups")


# --- 1. the task execution role can write the task's log stream ------------------------------


def test_awslogs_may_create_and_write_a_real_task_stream(default: DeployedTemplate) -> None:
    group = default.ref("TaskLogGroup")
    stream = f"{default.identity.arn('logs', 'log-group:' + group)}:log-stream:toolbox/toolbox/"
    stream += "0123456789abcdef0123456789abcdef"
    statements = default.policy_statements("TaskExecutionRole")
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert allows(statements, action, stream), action
    other = stream.replace("/tasks:", "/other:")
    assert not allows(statements, "logs:PutLogEvents", other)


# --- 2. no environment pairs Fargate Spot with ARM64; Rules refuse impossible parameters -------


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_samconfig_environment_deploys(environment: str) -> None:
    parameters = samconfig_parameters(ROOT, environment)
    assert rule_violations(TEMPLATE, parameters) == []
    deployed = deployed_template(TEMPLATE, parameters)
    architecture = deployed.properties("TaskDefinition")["RuntimePlatform"]["CpuArchitecture"]
    spot = deployed.parameters["CapacityProvider"] == "FARGATE_SPOT"
    assert not (spot and architecture == "ARM64"), environment


def test_rules_refuse_spot_on_arm64_at_deploy_time() -> None:
    with pytest.raises(TemplateError, match="SpotNeedsX86: Fargate Spot does not run ARM64"):
        stack(CapacityProvider="FARGATE_SPOT")
    spot = stack(CapacityProvider="FARGATE_SPOT", CpuArchitecture="X86_64")
    assert spot.properties("JobStateMachine")["DefinitionSubstitutions"]["CapacityProvider"] == (
        "FARGATE_SPOT"
    )


@pytest.mark.parametrize(("cpu", "memory"), [("256", "4096"), ("1024", "1024"), ("8192", "18432")])
def test_rules_refuse_a_task_size_fargate_does_not_offer(cpu: str, memory: str) -> None:
    with pytest.raises(TemplateError, match=f"With TaskCpu={cpu}, Fargate accepts TaskMemory"):
        stack(TaskCpu=cpu, TaskMemory=memory)


def test_rules_and_the_job_schema_agree_on_fargate_sizes() -> None:
    """The template cannot import longjob_core: its Rules list the same table."""
    table = {}
    for rule in TEMPLATE["Rules"].values():
        condition = rule["RuleCondition"]["Fn::Equals"]
        if condition[0] == {"Ref": "TaskCpu"}:
            allowed = rule["Assertions"][0]["Assert"]["Fn::Contains"][0]
            table[int(condition[1])] = {int(m) for m in allowed}
    assert table == FARGATE_MEMORY


# --- 3. /tmp: tests/container/test_image.py runs the image with /tmp as Fargate mounts it -----


def test_the_image_declares_the_scratch_volume_the_task_mounts(default: DeployedTemplate) -> None:
    (container,) = default.properties("TaskDefinition")["ContainerDefinitions"]
    assert container["ReadonlyRootFilesystem"] is True
    (mount,) = container["MountPoints"]
    assert mount["ContainerPath"] == "/tmp"
    dockerfile = (ROOT / "container" / "Dockerfile").read_text()
    assert re.search(r'^VOLUME \["/tmp"\]$', dockerfile, re.MULTILINE)
    assert dockerfile.index("chmod 1777 /tmp") < dockerfile.index('VOLUME ["/tmp"]')


# --- 4. two stacks in one region: the schedule gets a generated name --------------------------


def test_the_schedule_name_is_generated_so_two_stacks_can_coexist(
    default: DeployedTemplate,
) -> None:
    (schedule,) = default.of_type("AWS::Scheduler::Schedule").values()
    assert "Name" not in schedule["Properties"]


# --- 5. no reserved concurrency a small account could not grant -------------------------------


def test_functions_reserve_no_concurrency(default: DeployedTemplate) -> None:
    functions = default.of_type("AWS::Lambda::Function")
    assert set(functions) == {"PrepareJobFunction", "NotifyFunction", "StageResultsFunction"}
    for name, function in functions.items():
        assert "ReservedConcurrentExecutions" not in function["Properties"], name


# --- 10. the state machine's log group is a vended-logs group the key may encrypt -------------


def test_state_machine_logs_under_vendedlogs_and_every_group_encryptable(
    default: DeployedTemplate,
) -> None:
    groups = default.of_type("AWS::Logs::LogGroup")
    machine = default.properties("JobStateMachine")
    destination = machine["LoggingConfiguration"]["Destinations"][0]
    arn = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]
    (logging_group,) = [n for n in groups if default.get_att(n, "Arn") == arn]
    assert default.ref(logging_group).startswith("/aws/vendedlogs/states/")
    key_policy = default.properties("Key")["KeyPolicy"]["Statement"]
    logs = [s for s in key_policy if s["Sid"] == "LogsEncryptLogGroups"]
    for name in groups:
        group_arn = default.identity.arn("logs", f"log-group:{default.ref(name)}")
        context = {"kms:EncryptionContext:aws:logs:arn": group_arn}
        assert allows(logs, "kms:GenerateDataKey", "*", context), name


# --- 11. awslogs: non-blocking, with a buffer sized on purpose --------------------------------


def test_awslogs_mode_says_what_it_trades_and_sizes_the_buffer(default: DeployedTemplate) -> None:
    (container,) = default.properties("TaskDefinition")["ContainerDefinitions"]
    options = container["LogConfiguration"]["Options"]
    assert options["mode"] == "non-blocking"
    size = re.fullmatch(r"(\d+)m", options["max-buffer-size"])
    assert size
    assert int(size.group(1)) >= 10, "at least ECS's own default of 10m"
    comment = TEXT[TEXT.index("LogConfiguration:") : TEXT.index("mode: non-blocking")]
    assert "DROPPED" in comment
    assert "sooner" not in comment


# --- 12. the scheduled document fits a CloudFormation parameter, or deploy says why -----------


def test_scheduled_documents_are_capped_at_deploy_time_with_the_reason() -> None:
    spec = TEMPLATE["Parameters"]["ScheduleJobDocument"]
    assert spec["MaxLength"] == CFN_PARAMETER_BYTES
    assert "4,096" in spec["ConstraintDescription"]
    big = json.dumps({"job": "big", "stages": [{"name": "s", "run": ["bash", "x" * 5000]}]})
    with pytest.raises(TemplateError, match="ScheduleJobDocument: must be one job document") as e:
        stack(ScheduleJobDocument=big)
    assert "xxxx" not in str(e.value)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_scheduled_documents_in_samconfig_are_valid_jobs(environment: str) -> None:
    deployed = deployed_template(TEMPLATE, samconfig_parameters(ROOT, environment))
    document = deployed.parameters["ScheduleJobDocument"]
    assert len(document.encode()) <= CFN_PARAMETER_BYTES
    assert check(json.loads(document)) == []


# --- 13. any stack name CloudFormation accepts fits every name derived from it ----------------


def test_the_longest_stack_name_fits_every_derived_name() -> None:
    longest = deployed_template(TEMPLATE, {}, StackIdentity(name="s" * 128))
    machine = longest.properties("JobStateMachine")
    assert "StateMachineName" not in machine  # generated by CloudFormation, within 80
    assert len(longest.get_att("JobStateMachine", "Name")) > STATE_MACHINE_NAME_CHARS  # local id
    for name in longest.of_type("AWS::Logs::LogGroup"):
        assert len(longest.ref(name)) <= 512, name
    assert len(longest.properties("TaskDefinition")["Family"]) <= 255
    # The overlap guard still names exactly this state machine, without a cycle.
    guard = longest.properties("PrepareJobOverlapPolicy")
    assert guard["Roles"] == [longest.ref("PrepareJobFunctionRole")]
    statements = longest.policy_statements("PrepareJobFunctionRole")
    machine_arn = longest.ref("JobStateMachine")
    execution = machine_arn.replace(":stateMachine:", ":execution:") + ":nightly-1"
    assert allows(statements, "states:DescribeExecution", execution)
    other = execution.replace(":execution:", ":execution:other-")
    assert not allows(statements, "states:DescribeExecution", other)


# --- 14. SecureStrings under a customer-managed key --------------------------------------------


KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_a_customer_managed_key_may_decrypt_secrets_through_ssm_and_secrets_manager() -> None:
    deployed = stack(SecretsKmsKeyArn=KEY, WebhookUrlParameter="/longjob/webhook")
    via = {"kms:ViaService": "ssm.us-east-1.amazonaws.com"}
    task_role = deployed.policy_statements("TaskRole")
    assert allows(task_role, "kms:Decrypt", KEY, via)
    assert allows(
        task_role, "kms:Decrypt", KEY, {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
    )
    assert not allows(task_role, "kms:Decrypt", KEY, {"kms:ViaService": "s3.amazonaws.com"})
    assert not allows(task_role, "kms:Decrypt", KEY)  # directly, without a service: no
    assert allows(deployed.policy_statements("NotifyFunctionRole"), "kms:Decrypt", KEY, via)


def test_without_a_key_no_role_may_decrypt_anything(default: DeployedTemplate) -> None:
    for role in default.of_type("AWS::IAM::Role"):
        statements = default.policy_statements(role)
        assert not allows(statements, "kms:Decrypt", KEY, {"kms:ViaService": "ssm.x"}), role


# --- 15. the timed-out/aborted alarm sums missing periods as zero ------------------------------


def test_timed_out_or_aborted_alarm_fills_missing_data(default: DeployedTemplate) -> None:
    metrics: list[dict[str, Any]] = default.properties("TimedOutExecutionsAlarm")["Metrics"]
    (expression,) = [m["Expression"] for m in metrics if "Expression" in m]
    ids = [m["Id"] for m in metrics if "MetricStat" in m]
    assert expression == " + ".join(f"FILL({i}, 0)" for i in ids)
