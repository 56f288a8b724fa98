"""Local runs enforce the stack's IAM policies: a call AWS would refuse is refused here, in
AWS's words, naming the role, the action and the resource.

Each fault is one edit of template.yaml in a scratch copy of the project; the job then runs
on the local stack (the `longjob run` path) and fails where and as it would on AWS.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from longjob.engine.launchers import ProcessLauncher
from longjob.engine.local_engine import RunResult
from longjob.errors import TemplateError
from tests.conftest import ROOT, VENV_BIN

from .conftest import run_on_local_stack, scratch
from .test_wide_stages import wide

DATA_BUCKET = "longjob-example-backups"  # samconfig.toml's DataBucketName
ACCOUNT = "123456789012"


def run_job(
    project: Path,
    document: dict[str, Any],
    iam: bool = True,
    secrets: dict[str, str] | None = None,
) -> tuple[RunResult, Any, dict[str, Any]]:
    return run_on_local_stack(project, ProcessLauncher(project), document, iam, secrets)


def logs(result: RunResult) -> str:
    return "\n".join(Path(task.log_file).read_text() for task in result.tasks)


def failure_reasons(summary: dict[str, Any]) -> str:
    return json.dumps([s.get("failures") for s in summary["stages"]])


def write_to(bucket: str) -> dict[str, Any]:
    """A job whose one task writes an object to ``bucket`` as the task role."""
    put = {"name": "put", "run": ["python", "t/s3_write.py"], "env": {"BUCKET": bucket}}
    return {"job": "probe", "stages": [put]}


WRITE = write_to(DATA_BUCKET)


@pytest.fixture
def run_edited(project: Path, tmp_path: Path) -> Callable[..., tuple[RunResult, Any]]:
    """Runs a document on a scratch copy of the project with one template edit."""
    count = iter(range(100))

    def run(edit: tuple[str, str] | None, document: dict[str, Any]) -> tuple[RunResult, Any]:
        result, summary, _ = run_job(scratch(project, tmp_path / str(next(count)), edit), document)
        return result, summary

    return run


def test_a_script_writes_the_data_bucket_and_no_other(run_edited) -> None:
    result, summary = run_edited(None, WRITE)
    assert summary["status"] == "SUCCEEDED", summary
    assert f"written to {DATA_BUCKET}" in logs(result)

    result, summary = run_edited(None, write_to("elsewhere"))
    assert summary["status"] == "FAILED"
    assert (
        "An error occurred (AccessDenied) when calling the PutObject operation: User: "
        f"arn:aws:sts::{ACCOUNT}:assumed-role/longjob-local-TaskRole/task is not authorized "
        "to perform: s3:PutObject on resource: arn:aws:s3:::elsewhere/probe.txt because no "
        "identity-based policy allows the s3:PutObject action"
    ) in logs(result)


def test_task_role_without_put_object_on_the_data_bucket(run_edited) -> None:
    edit = (
        "[s3:GetObject, s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload]",
        "[s3:GetObject, s3:DeleteObject, s3:AbortMultipartUpload]",
    )
    result, summary = run_edited(edit, WRITE)
    assert summary["status"] == "FAILED"
    text = logs(result)
    assert "(AccessDenied) when calling the PutObject operation" in text
    assert "assumed-role/longjob-local-TaskRole/" in text
    assert f"s3:PutObject on resource: arn:aws:s3:::{DATA_BUCKET}/probe.txt" in text


def test_task_log_stream_resource_that_matches_nothing_stops_the_task_before_it_runs(
    run_edited,
) -> None:
    """The fault the review found: the group's Arn already ends in ':*'."""
    edit = (
        'Resource: !Sub "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}'
        ':log-group:${TaskLogGroup}:log-stream:*"',
        'Resource: !Sub "${TaskLogGroup.Arn}:log-stream:*"',
    )
    result, summary = run_edited(edit, WRITE)
    assert summary["status"] == "FAILED"
    assert "ResourceInitializationError: failed to validate logger args" in failure_reasons(summary)
    # The whole reason is the task's StoppedReason, in the history.
    history = json.dumps(result.history)
    assert "assumed-role/longjob-local-TaskExecutionRole/" in history
    assert "logs:CreateLogStream on resource: arn:aws:logs:us-east-1" in history
    assert ":log-group:/longjob/longjob-local/tasks:log-stream:toolbox/toolbox/" in history
    assert [task.exit_code for task in result.tasks] == [None]  # it never ran


def test_a_secret_outside_the_task_roles_prefixes_is_refused(project: Path) -> None:
    secrets = {"ssm:/longjob/db": "inside", "ssm:/other/db": "outside", "secretsmanager:other": "s"}
    checks = [
        {
            "name": name,
            "run": ["bash", "t/check_secret.sh"],
            "env": {"DB_PASSWORD": ref},
            "onFailure": "continue",
        }
        for name, ref in (
            ("inside", "ssm:/longjob/db"),
            ("outside", "ssm:/other/db"),
            ("other", "secretsmanager:other"),
        )
    ]
    document = {"job": "secrets", "stages": checks}
    result, summary, report = run_job(project, document, secrets=secrets)
    by_stage = {s["name"]: s for s in summary["stages"]}
    assert by_stage["inside"]["exitCode"] == 1  # resolved (and not the expected hash)
    assert by_stage["outside"]["exitCode"] == 125  # the entrypoint could not resolve it
    assert by_stage["other"]["exitCode"] == 125
    text = logs(result)
    assert "AccessDeniedException" in text
    assert (
        "is not authorized to perform: ssm:GetParameter on resource: "
        "arn:aws:ssm:us-east-1:123456789012:parameter/other/db" in text
    )
    assert "secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:" in text
    # No value reaches a log (the stage names are "inside" and "outside", the values not).
    assert '"outside"' not in text.replace('"stage":"outside"', "")
    assert report["longjob-local-TaskRole"]["denied"]


def test_state_machine_role_without_pass_role(run_edited) -> None:
    result, summary = run_edited(("Action: iam:PassRole", "Action: iam:GetRole"), WRITE)
    assert summary["status"] == "FAILED"
    assert "ECS.AccessDeniedException" in failure_reasons(summary)
    history = json.dumps(result.history)
    assert "assumed-role/longjob-local-StateMachineRole/" in history
    assert "iam:PassRole on resource: arn:aws:iam::123456789012:role/longjob-local-" in history
    assert result.tasks == []  # RunTask refused: no task


def test_prepare_function_role_without_the_lock_table(run_edited) -> None:
    edit = ("Action: [dynamodb:PutItem, dynamodb:GetItem]", "Action: [dynamodb:GetItem]")
    result, summary = run_edited(edit, WRITE)
    assert summary["status"] == "FAILED"
    assert summary["error"] == "PrepareJobFailed"
    assert (
        "longjob-local-PrepareJobFunctionRole/longjob-local-PrepareJobFunction is not "
        "authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:"
        "123456789012:table/longjob-local-JobLockTable"
    ) in summary["cause"]
    assert result.tasks == []


def test_state_machine_role_without_the_managed_rule_cannot_be_deployed(
    project: Path, tmp_path: Path
) -> None:
    edit = (
        "[events:PutTargets, events:PutRule, events:DescribeRule]",
        "[events:DescribeRule]",
    )
    with pytest.raises(TemplateError, match="is not authorized to create managed-rule"):
        run_job(scratch(project, tmp_path, edit), WRITE)


def test_no_iam_lets_the_refused_call_through(project: Path, tmp_path: Path) -> None:
    result, _, report = run_job(scratch(project, tmp_path), write_to("elsewhere"), iam=False)
    assert report == {}
    # Without checks the bucket does not exist, and that is all S3 says.
    assert "NoSuchBucket" in logs(result)
    assert "AccessDenied" not in logs(result)


def test_cli_iam_report_and_no_iam_warning(project: Path, tmp_path: Path) -> None:
    copy = scratch(project, tmp_path)
    job = tmp_path / "job.json"
    job.write_text(json.dumps(WRITE))
    command = [str(VENV_BIN / "longjob"), "run", str(job), "--iam-report", "--json"]
    done = subprocess.run(command, cwd=copy, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    report = {row["role"]: row for row in json.loads(done.stdout)["iam"]}
    task_role = report["longjob-local-TaskRole"]
    assert {"action": "s3:PutObject", "resource": f"arn:aws:s3:::{DATA_BUCKET}/probe.txt"} in (
        task_role["used"]
    )
    # Writing with SSE-KMS needs the bucket's key, via S3.
    assert any(use["action"] == "kms:GenerateDataKey" for use in task_role["used"])
    assert "secrets-by-reference[0]" in task_role["unusedStatements"]
    assert "data-bucket[1]" in task_role["usedStatements"]
    schedule = report["longjob-local-JobStateMachineScheduleRole"]
    assert schedule["notes"] == {
        "JobStateMachineScheduleStartExecutionPolicy[0]": (
            "the schedule starts runs on AWS; a local run is started by you"
        )
    }

    done = subprocess.run(
        [str(VENV_BIN / "longjob"), "run", str(job), "--no-iam"],
        cwd=copy,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "warning: --no-iam" in done.stderr


def test_the_example_jobs_use_the_task_roles_statements(project: Path) -> None:
    """What db-maintenance needs of the task role is what the template grants it, except
    the secret prefixes (its databases need no password here) and the checkpoints (its
    scripts keep none; test_checkpoints uses them)."""
    document = json.loads((ROOT / "jobs" / "examples" / "db-maintenance.json").read_text())
    _, summary, report = run_job(project, document)
    assert summary["status"] == "SUCCEEDED", summary
    task_role = report["longjob-local-TaskRole"]
    assert task_role["unusedStatements"] == [
        "secrets-by-reference[0]",
        "secrets-by-reference[1]",
        "checkpoints[0]",
        "checkpoints[1]",
        "checkpoints[2]",
    ]
    assert task_role["denied"] == []
    assert {row["role"]: row["denied"] for row in report.values()} == {role: [] for role in report}


def test_the_stack_s_roles_allow_a_wide_stage_and_nothing_more(project: Path) -> None:
    result, _summary, report = run_job(project, wide(45))
    assert result.status == "SUCCEEDED", result.cause
    used = {row["action"] for row in report["longjob-local-StateMachineRole"]["used"]}
    assert {"states:StartExecution", "s3:GetObject", "s3:PutObject"} <= used
    results = {row["action"] for row in report["longjob-local-StageResultsFunctionRole"]["used"]}
    assert results == {"s3:ListBucket", "s3:GetObject", "states:DescribeMapRun"}


def test_a_state_machine_role_that_may_not_start_children_fails_the_map(
    project: Path, tmp_path: Path
) -> None:
    copy = scratch(
        project,
        tmp_path,
        (
            "            Action: states:StartExecution\n",
            "            Action: states:ListExecutions\n",
        ),
    )
    result, summary, _report = run_job(copy, wide(45))
    assert result.status == "FAILED"
    assert "states:StartExecution" in json.dumps(summary or result.cause)
    assert result.tasks == []
