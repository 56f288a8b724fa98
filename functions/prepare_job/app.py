"""prepare_job: the state machine's first step. Validates the job document (all problems at
once, quotas included), takes the job's lock when it forbids overlapping runs, writes each
wide stage's items to the run bucket, and returns the plan the state machine iterates."""

from __future__ import annotations

import os
import time
from functools import cache
from typing import Any

import boto3
from longjob_core.contract import FARGATE_SPOT, ON_DEMAND, SPOT
from longjob_core.cost import function_usage
from longjob_core.exceptions import InvalidJobDocument
from longjob_core.lock import Lock, acquire
from longjob_core.planning import detach_items, item_source_problems, make_plan
from longjob_core.validation import check

# The lock outlives its holder's deadline by this much (the run still releases it, stops
# its last task and notifies after the deadline).
LOCK_GRACE_SECONDS = 900


@cache
def sfn_client() -> Any:
    """Created once per container, on first use (tests pass their own)."""
    return boto3.client("stepfunctions")


@cache
def dynamodb_client() -> Any:
    return boto3.client("dynamodb")


@cache
def s3_client() -> Any:
    return boto3.client("s3")


def prepare(
    event: dict[str, Any],
    sfn: Any,
    dynamodb: Any,
    lock_table: str,
    retry_delay_seconds: int,
    now: int | None = None,
    s3: Any = None,
    run_bucket: str = "",
    data_bucket: str = "",
    architecture: str | None = None,
    capacity_provider: str = "FARGATE",
) -> dict[str, Any]:
    """Event: {"document": <job document>, "execution": {"Id", "Name", "StartTime"},
    "stateMachineArn": <$$.StateMachine.Id>}."""
    document = event.get("document")
    execution = event["execution"]
    started = time.monotonic()
    problems = check(document, architecture) or item_source_problems(
        document, [run_bucket, data_bucket]
    )
    if problems:
        raise InvalidJobDocument(problems)  # only a valid document may take the lock
    plan = make_plan(
        document,
        execution["Name"],
        execution["StartTime"],
        None,
        retry_delay_seconds,
        run_bucket=run_bucket,
        default_capacity=SPOT if capacity_provider == FARGATE_SPOT else ON_DEMAND,
    )
    if document.get("concurrency", "forbid") == "forbid":
        lock = Lock(
            lock_table,
            document["job"],
            execution["Id"],
            plan["deadline"] // 1000 + LOCK_GRACE_SECONDS,
        )
        holder = acquire(dynamodb, sfn, lock, int(time.time()) if now is None else now)
        plan.update(
            overlap=holder is not None, overlappingExecution=holder, lockHeld=holder is None
        )
    plan, objects = detach_items(plan)
    if not plan["overlap"]:  # a skipped run starts nothing, and writes nothing
        for bucket, key, body in objects:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    plan["functions"] = [function_usage("prepare_job", started)]
    return plan


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return prepare(
        event,
        sfn=sfn_client(),
        dynamodb=dynamodb_client(),
        lock_table=os.environ["LOCK_TABLE"],
        retry_delay_seconds=int(os.environ.get("RETRY_DELAY_SECONDS", "10")),
        s3=s3_client(),
        run_bucket=os.environ["RUN_BUCKET"],
        data_bucket=os.environ.get("DATA_BUCKET", ""),
        architecture=os.environ.get("CPU_ARCHITECTURE"),
        capacity_provider=os.environ.get("CAPACITY_PROVIDER", "FARGATE"),
    )
