"""functions/prepare_job: validation, overlap guard and plan, with moto's Step Functions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from longjob_core import planning
from longjob_core.exceptions import InvalidJobDocument
from moto import mock_aws

from tests.unit.conftest import event, function_module

prepare_job = function_module("prepare_job")


class NoSfn:
    """The guard must not call Step Functions when concurrency is "allow"."""

    def get_paginator(self, name: str):
        raise AssertionError("ListExecutions called")


def test_plan_of_the_design_example() -> None:
    plan = prepare_job.prepare(
        event("prepare_job_nightly"), sfn=_empty_sfn(), retry_delay_seconds=10
    )
    assert plan["job"] == "nightly-maintenance"
    assert plan["execution"] == "nightly-20261130T030000Z"
    assert plan["overlap"] is False
    start = datetime(2026, 11, 30, 3, tzinfo=UTC).timestamp() * 1000
    assert plan["deadline"] == start + 86400 * 1000  # StartTime + timeoutSeconds
    backup, vacuum, report = plan["stages"]
    assert backup["items"] == [None]
    assert backup["command"] == ["bash", "pg_backup.sh", "--", "--database", "orders"]
    assert backup["resources"] == {"Cpu": "1024", "Memory": "2048"}
    assert (backup["maxAttempts"], backup["timeoutSeconds"], backup["retryDelaySeconds"]) == (
        3,
        7200,
        10,
    )
    assert {"Name": "PGPASSWORD", "Value": "ssm:/longjob/prod/db-password"} in backup["environment"]
    assert backup["environment"][:3] == [
        {"Name": "LONGJOB_JOB", "Value": "nightly-maintenance"},
        {"Name": "LONGJOB_STAGE", "Value": "backup"},
        {"Name": "LONGJOB_EXECUTION", "Value": "nightly-20261130T030000Z"},
    ]
    # forEach: one template, the items; the state machine fills {item} per task.
    assert vacuum["items"] == ["orders", "users"]
    assert vacuum["command"] == ["python", "vacuum.py", "--", "--database", "{item}"]
    assert {"Name": "LONGJOB_ITEM", "Value": "{item}"} in vacuum["environment"]
    assert (vacuum["maxConcurrency"], vacuum["onFailure"]) == (2, "continue")
    assert vacuum["timeoutSeconds"] == 86400  # no stage timeout: the job's
    assert report["always"] is True
    tasks = planning.expand_stage(vacuum)
    assert [t["label"] for t in tasks] == ["vacuum:orders", "vacuum:users"]
    assert tasks[1]["command"] == ["python", "vacuum.py", "--", "--database", "users"]
    assert {"Name": "LONGJOB_ITEM", "Value": "users"} in tasks[1]["environment"]


def test_a_thousand_item_fan_out_plans_far_below_the_payload_limit() -> None:
    document = {
        "job": "big",
        "stages": [
            {
                "name": "each",
                "forEach": [f"tenant-database-{i:05d}" for i in range(1000)],
                "maxConcurrency": 40,
                "run": ["bash", "pg_vacuum.sh", "--database", "{item}"],
                "env": {"PGHOST": "db.internal", "PGPASSWORD": "ssm:/longjob/prod/db"},
            }
        ],
    }
    payload = {**event("prepare_job_nightly"), "document": document}
    plan = prepare_job.prepare(payload, sfn=_empty_sfn(), retry_delay_seconds=10)
    assert len(json.dumps(plan)) < 64 * 1024


def test_invalid_document_lists_every_problem() -> None:
    with pytest.raises(InvalidJobDocument) as raised:
        prepare_job.prepare(event("prepare_job_invalid"), sfn=NoSfn(), retry_delay_seconds=10)
    problems = [str(p) for p in raised.value.problems]
    assert problems == [
        "/job: must be 1-64 letters, digits, '_' or '-', starting with a letter or digit",
        "/stages/0/env/AWS_REGION: is not allowed: reserved: the platform sets it (see the "
        "README's Security model)",
        "/stages/0/env/DB_PASSWORD: looks like a secret: pass a reference (ssm:/path or "
        "secretsmanager:name), never the value",
        "/stages/0/retires: unknown field (allowed: always, cpu, env, forEach, maxConcurrency, "
        "memory, name, onFailure, retries, run, timeoutSeconds); did you mean 'retries'?",
        '/stages/0/run/0: must be one of "bash", "sh", "python", "python3"',
        "/stages/0/run/1: must be a relative path inside the scripts folder (no '..', no "
        "leading '/' or '-')",
        "/stages/1/memory: 4096 MiB is not a valid Fargate size with cpu 256 (allowed: "
        "512-2048 in steps of 512)",
        "/stages/1/name: duplicates the name of /stages/0",
    ]
    # The Lambda runtime names the error after the class: the state machine catches it so.
    assert type(raised.value).__name__ == "InvalidJobDocument"
    assert "problems" in str(raised.value)


def _empty_sfn():
    class Empty:
        def get_paginator(self, name: str):
            class Pages:
                def paginate(self, **kwargs):
                    return [{"executions": []}]

            return Pages()

    return Empty()


@mock_aws
def test_overlap_guard_finds_an_earlier_run_of_the_same_job() -> None:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = sfn.create_state_machine(
        name="longjob-test-job",
        definition=json.dumps(
            {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}
        ),
        roleArn="arn:aws:iam::123456789012:role/x",
    )["stateMachineArn"]
    document = {"job": "nightly", "stages": [{"name": "a", "run": ["bash", "x.sh"]}]}
    earlier = sfn.start_execution(stateMachineArn=machine, name="first", input=json.dumps(document))
    sfn.start_execution(
        stateMachineArn=machine, name="other-job", input=json.dumps({**document, "job": "other"})
    )
    mine = sfn.start_execution(stateMachineArn=machine, name="second", input=json.dumps(document))
    start = sfn.describe_execution(executionArn=mine["executionArn"])["startDate"].isoformat()
    payload = {
        "document": document,
        "execution": {"Id": mine["executionArn"], "Name": "second", "StartTime": start},
        "stateMachineArn": machine,
    }
    plan = prepare_job.prepare(payload, sfn=sfn, retry_delay_seconds=10)
    assert plan["overlap"] is True
    assert plan["overlappingExecution"] == earlier["executionArn"]
    # The earlier run does not yield to the later one.
    first_payload = {
        **payload,
        "execution": {
            "Id": earlier["executionArn"],
            "Name": "first",
            "StartTime": sfn.describe_execution(executionArn=earlier["executionArn"])[
                "startDate"
            ].isoformat(),
        },
    }
    assert prepare_job.prepare(first_payload, sfn=sfn, retry_delay_seconds=10)["overlap"] is False
    # concurrency: allow never looks.
    allow = {**payload, "document": {**document, "concurrency": "allow"}}
    assert prepare_job.prepare(allow, sfn=NoSfn(), retry_delay_seconds=10)["overlap"] is False


def test_handler_reads_the_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRY_DELAY_SECONDS", "7")
    monkeypatch.setattr(prepare_job, "sfn_client", _empty_sfn)
    plan = prepare_job.lambda_handler(event("prepare_job_nightly"), None)
    assert plan["stages"][0]["retryDelaySeconds"] == 7
