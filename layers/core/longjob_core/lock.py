"""The `concurrency: forbid` guard: one lock per job, a conditional write in DynamoDB.

prepare_job takes the lock for its execution after the document is valid; the state
machine releases it when the run ends ("Release lock", a conditional delete). A conditional
write is atomic, so two runs that start together cannot both go ahead (ListExecutions,
the earlier guard, is eventually consistent and could let both through).

A run that never released its lock (stopped with StopExecution, after which Step Functions
runs no state; or one whose release failed) does not block forever: the next run finds the
holder no longer RUNNING and takes the lock over, and the item expires at the holder's
deadline in any case (also DynamoDB's TTL attribute, so old items are cleaned up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TAKE = "attribute_not_exists(job) OR expiresAt < :now OR holder = :me"
TAKE_OVER = "holder = :other"


@dataclass(frozen=True)
class Lock:
    table: str
    job: str
    holder: str  # the execution ARN
    expires_at: int  # epoch seconds: the holder's deadline

    def item(self) -> dict[str, Any]:
        return {
            "job": {"S": self.job},
            "holder": {"S": self.holder},
            "expiresAt": {"N": str(self.expires_at)},
        }


def _conditional_failed(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"


def _running(sfn: Any, execution_arn: str) -> bool:
    try:
        return sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
    except Exception as error:  # only "no such execution" means it is not running
        code = getattr(error, "response", {}).get("Error", {}).get("Code")
        if code == "ExecutionDoesNotExist":
            return False
        raise


def acquire(dynamodb: Any, sfn: Any, lock: Lock, now: int) -> str | None:
    """Takes the job's lock for ``lock.holder``. Returns None when it is held now (taking
    it again is fine: a retried prepare_job finds its own lock), or the ARN of the running
    execution that holds it."""
    try:
        dynamodb.put_item(
            TableName=lock.table,
            Item=lock.item(),
            ConditionExpression=TAKE,
            ExpressionAttributeValues={":now": {"N": str(now)}, ":me": {"S": lock.holder}},
        )
        return None
    except Exception as error:
        if not _conditional_failed(error):
            raise
    current = dynamodb.get_item(
        TableName=lock.table, Key={"job": {"S": lock.job}}, ConsistentRead=True
    ).get("Item")
    if current is None:  # released in between: try once more from the start
        return acquire(dynamodb, sfn, lock, now)
    other = current["holder"]["S"]
    if _running(sfn, other):
        return other
    try:
        dynamodb.put_item(
            TableName=lock.table,
            Item=lock.item(),
            ConditionExpression=TAKE_OVER,
            ExpressionAttributeValues={":other": {"S": other}},
        )
        return None
    except Exception as error:
        if not _conditional_failed(error):
            raise
    # Another run took it over first: it is the one running now.
    taken = dynamodb.get_item(
        TableName=lock.table, Key={"job": {"S": lock.job}}, ConsistentRead=True
    ).get("Item")
    return taken["holder"]["S"] if taken else None
