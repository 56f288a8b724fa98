"""The `concurrency: forbid` guard: is another run of the same job already running?"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def running_twin(
    sfn: Any, state_machine_arn: str, execution_arn: str, job: str, start_time: Any
) -> str | None:
    """ARN of a running execution of the same job that started before this one, if any.

    Two runs that start together each see the other: the earlier start (then the smaller
    ARN) wins, so exactly one of them goes ahead."""
    mine = (_as_utc(start_time), execution_arn)
    paginator = sfn.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=state_machine_arn, statusFilter="RUNNING"):
        for execution in page["executions"]:
            arn = execution["executionArn"]
            if arn == execution_arn:
                continue
            theirs = (_as_utc(execution["startDate"]), arn)
            if theirs >= mine:
                continue
            description = sfn.describe_execution(executionArn=arn)
            try:
                other_job = json.loads(description.get("input") or "{}").get("job")
            except (json.JSONDecodeError, AttributeError):
                continue
            if other_job == job:
                return arn
    return None


def _as_utc(moment: datetime | str) -> datetime:
    """Start times arrive as ISO strings (context object) or datetimes (API)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
