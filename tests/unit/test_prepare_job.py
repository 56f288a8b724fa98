"""functions/prepare_job: validation, the job lock and the plan, on moto's DynamoDB and
Step Functions."""

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


class NoCalls:
    """A client that must not be called (concurrency: allow takes no lock)."""

    def __getattr__(self, name: str):
        raise AssertionError(f"{name} called")


TABLE = "longjob-test-locks"


@pytest.fixture
def aws():
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "job", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "job", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="longjob-test-job",
            definition=json.dumps(
                {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}
            ),
            roleArn="arn:aws:iam::123456789012:role/x",
        )["stateMachineArn"]
        yield {"dynamodb": dynamodb, "sfn": sfn, "machine": machine}


def run_of(aws: dict, name: str, document: dict) -> dict:
    """A RUNNING execution of the test machine, as prepare_job's event."""
    arn = aws["sfn"].start_execution(
        stateMachineArn=aws["machine"], name=name, input=json.dumps(document)
    )["executionArn"]
    start = aws["sfn"].describe_execution(executionArn=arn)["startDate"].isoformat()
    return {
        "document": document,
        "execution": {"Id": arn, "Name": name, "StartTime": start},
        "stateMachineArn": aws["machine"],
    }


def prepare(aws: dict, payload: dict, now: int | None = None) -> dict:
    return prepare_job.prepare(
        payload, aws["sfn"], aws["dynamodb"], TABLE, retry_delay_seconds=10, now=now
    )


def test_plan_of_the_design_example() -> None:
    payload = event("prepare_job_nightly")
    plan = prepare_job.prepare(
        {**payload, "document": {**payload["document"], "concurrency": "allow"}},
        NoCalls(),
        NoCalls(),
        TABLE,
        retry_delay_seconds=10,
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


def test_a_wide_stage_s_items_go_to_the_run_bucket_not_into_the_plan() -> None:
    document = {
        "job": "big",
        "concurrency": "allow",
        "stages": [
            {
                "name": "each",
                "forEach": [f"db-{i:05d}" for i in range(10_000)],
                "maxConcurrency": 100,
                "run": ["bash", "pg_vacuum.sh", "--database", "{item}"],
                "env": {"PGHOST": "db.internal", "PGPASSWORD": "ssm:/longjob/prod/db"},
            }
        ],
    }
    payload = {**event("prepare_job_nightly"), "document": document}
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="runs")
        plan = prepare_job.prepare(
            payload, NoCalls(), NoCalls(), TABLE, retry_delay_seconds=10, s3=s3, run_bucket="runs"
        )
        stage = plan["stages"][0]
        assert (stage["mode"], stage["items"], stage["itemCount"]) == ("distributed", None, 10_000)
        assert len(json.dumps(plan)) < 8 * 1024  # every state's input: the items stay out
        name = payload["execution"]["Name"]
        assert stage["itemReader"] == {"Bucket": "runs", "Key": f"runs/{name}/each/items.json"}
        assert stage["results"] == {"Bucket": "runs", "Prefix": f"runs/{name}/each/results"}
        stored = s3.get_object(Bucket="runs", Key=stage["itemReader"]["Key"])["Body"].read()
        assert json.loads(stored) == document["stages"][0]["forEach"]


def test_items_in_a_bucket_the_state_machine_may_not_read_are_refused() -> None:
    document = {
        "job": "from-s3",
        "concurrency": "allow",
        "stages": [{"name": "each", "run": ["bash", "x.sh"], "forEachFrom": "s3://other/l.json"}],
    }
    with pytest.raises(InvalidJobDocument) as raised:
        prepare_job.prepare(
            {**event("prepare_job_nightly"), "document": document},
            NoCalls(),
            NoCalls(),
            TABLE,
            retry_delay_seconds=10,
            s3=NoCalls(),
            run_bucket="runs",
            data_bucket="backups",
        )
    assert [str(p) for p in raised.value.problems] == [
        "/stages/0/forEachFrom: the state machine may read item lists only from this stack's "
        "buckets (runs, backups), not other"
    ]


def test_invalid_document_lists_every_problem() -> None:
    with pytest.raises(InvalidJobDocument) as raised:
        prepare_job.prepare(
            event("prepare_job_invalid"), NoCalls(), NoCalls(), TABLE, retry_delay_seconds=10
        )
    problems = [str(p) for p in raised.value.problems]
    assert problems == [
        "/job: must be 1-64 letters, digits, '_' or '-', starting with a letter or digit",
        "/stages/0/env/AWS_REGION: is not allowed: reserved: the platform sets it (see the "
        "README's Security model)",
        "/stages/0/env/DB_PASSWORD: looks like a secret: pass a reference (ssm:/path or "
        "secretsmanager:name), never the value",
        "/stages/0/retires: unknown field (allowed: always, approval, capacity, cpu, env, "
        "failFast, forEach, forEachFrom, maxConcurrency, memory, name, onFailure, resume, "
        "retries, retryOn, run, timeoutSeconds, toleratedFailureCount, "
        "toleratedFailurePercentage); did you mean 'retries'?",
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


NIGHTLY = {"job": "nightly", "stages": [{"name": "a", "run": ["bash", "x.sh"]}]}


def test_the_first_run_takes_the_lock_and_a_second_is_skipped(aws: dict) -> None:
    first = prepare(aws, run_of(aws, "first", NIGHTLY))
    assert (first["overlap"], first["lockHeld"]) == (False, True)
    second_run = run_of(aws, "second", NIGHTLY)
    second = prepare(aws, second_run)
    assert (second["overlap"], second["lockHeld"]) == (True, False)
    assert second["overlappingExecution"].endswith(":first")
    other_job = prepare(aws, run_of(aws, "other", {**NIGHTLY, "job": "other"}))
    assert other_job["lockHeld"] is True


def test_a_retried_prepare_finds_its_own_lock(aws: dict) -> None:
    payload = run_of(aws, "first", NIGHTLY)
    assert prepare(aws, payload)["lockHeld"] is True
    assert prepare(aws, payload)["lockHeld"] is True


def test_the_lock_of_a_run_that_ended_without_releasing_it_is_taken_over(aws: dict) -> None:
    """A stopped execution runs no state after StopExecution: its lock stays behind."""
    first = run_of(aws, "first", NIGHTLY)
    prepare(aws, first)
    aws["sfn"].stop_execution(executionArn=first["execution"]["Id"])
    second = prepare(aws, run_of(aws, "second", NIGHTLY))
    assert (second["overlap"], second["lockHeld"]) == (False, True)
    item = aws["dynamodb"].get_item(TableName=TABLE, Key={"job": {"S": "nightly"}})["Item"]
    assert item["holder"]["S"].endswith(":second")


def test_an_expired_lock_is_taken_without_asking(aws: dict) -> None:
    short = {**NIGHTLY, "timeoutSeconds": 60}
    prepare(aws, run_of(aws, "first", short))
    later = int(datetime.now(UTC).timestamp()) + 60 + prepare_job.LOCK_GRACE_SECONDS + 1
    assert prepare(aws, run_of(aws, "second", short), now=later)["lockHeld"] is True


def test_an_invalid_document_takes_no_lock(aws: dict) -> None:
    bad = {**NIGHTLY, "stages": [{"name": "a", "run": ["ksh", "x.sh"]}]}
    with pytest.raises(InvalidJobDocument):
        prepare(aws, run_of(aws, "bad", bad))
    assert "Item" not in aws["dynamodb"].get_item(TableName=TABLE, Key={"job": {"S": "nightly"}})
    assert prepare(aws, run_of(aws, "good", NIGHTLY))["lockHeld"] is True


def test_concurrency_allow_takes_no_lock() -> None:
    allow = {**event("prepare_job_nightly"), "document": {**NIGHTLY, "concurrency": "allow"}}
    plan = prepare_job.prepare(allow, NoCalls(), NoCalls(), TABLE, retry_delay_seconds=10)
    assert (plan["overlap"], plan["lockHeld"]) == (False, False)


def test_handler_reads_its_environment(aws: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRY_DELAY_SECONDS", "7")
    monkeypatch.setenv("LOCK_TABLE", TABLE)
    monkeypatch.setenv("RUN_BUCKET", "runs")
    monkeypatch.setattr(prepare_job, "sfn_client", lambda: aws["sfn"])
    monkeypatch.setattr(prepare_job, "dynamodb_client", lambda: aws["dynamodb"])
    plan = prepare_job.lambda_handler(run_of(aws, "first", NIGHTLY), None)
    assert plan["stages"][0]["retryDelaySeconds"] == 7
    assert plan["lockHeld"] is True
