"""prepare_job: the state machine's first step. Validates the job document (all problems at
once), applies the overlap guard and returns the plan the state machine iterates."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from longjob_core.exceptions import InvalidJobDocument
from longjob_core.overlap import running_twin
from longjob_core.planning import make_plan
from longjob_core.validation import check


@cache
def sfn_client() -> Any:
    """Created once per container, on first use (tests pass their own)."""
    return boto3.client("stepfunctions")


def prepare(event: dict[str, Any], sfn: Any, retry_delay_seconds: int) -> dict[str, Any]:
    """Event: {"document": <job document>, "execution": <$$.Execution>,
    "stateMachineArn": <$$.StateMachine.Id>}."""
    document = event.get("document")
    execution = event["execution"]
    problems = check(document)
    if problems:
        raise InvalidJobDocument(problems)
    twin = None
    if document.get("concurrency", "forbid") == "forbid":
        twin = running_twin(
            sfn,
            state_machine_arn=event["stateMachineArn"],
            execution_arn=execution["Id"],
            job=document["job"],
            start_time=execution["StartTime"],
        )
    return make_plan(document, execution["Name"], execution["StartTime"], twin, retry_delay_seconds)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return prepare(event, sfn_client(), int(os.environ.get("RETRY_DELAY_SECONDS", "10")))
