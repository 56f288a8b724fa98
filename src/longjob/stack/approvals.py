"""Answering an approval stage of a run on a stack: what `longjob approve` and a local
`longjob run` at its prompt both do.

The pending approval is the lock-table item Notify wrote (longjob_core.approvals): its task
token goes back to Step Functions with the answer key (approved) or as a failure named
contract.REJECTED_ERROR (rejected), with who answered (the caller's identity, from STS)
and the comment, which the workflow keeps in the run's summary. The token and the key are
never printed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from botocore.exceptions import ClientError
from longjob_core.approvals import PendingItem, approval_output, rejection_cause
from longjob_core.contract import ANSWER_COMMENT_CHARS, REJECTED_ERROR, approval_key

from longjob.stack.deployed import Aws, AwsError, Stack, aws_errors

# A request is stored a moment after the run reaches the stage: a local run's prompt waits
# this long for it, and `longjob approve` (whose user may have seen `watch` print the
# command before Notify stored the request) this long.
REQUEST_WAIT_SECONDS = 10.0
APPROVE_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Answer:
    execution: str
    stage: str
    approved: bool
    by: str


def comment_problem(comment: str) -> str | None:
    if len(comment) > ANSWER_COMMENT_CHARS:
        return f"must have at most {ANSWER_COMMENT_CHARS} characters (it has {len(comment)})"
    return None


def _pending(aws: Aws, stack: Stack, name: str) -> PendingItem | None:
    item = aws.dynamodb.get_item(
        TableName=stack.lock_table, Key={"job": {"S": approval_key(name)}}, ConsistentRead=True
    ).get("Item")
    return PendingItem.of(item) if item else None


@aws_errors
def answer(
    aws: Aws,
    stack: Stack,
    execution_arn: str,
    approve: bool,
    comment: str = "",
    wait_seconds: float = 0.0,
    stage: str | None = None,
) -> Answer:
    """Answers the approval ``execution_arn`` waits for (at ``stage``, when given); raises
    AwsError (one line) when it waits for none or at another stage, or the answer came too
    late."""
    if not stack.lock_table:
        raise AwsError(
            f"stack {stack.name} has no output LockTableName: deploy this version of the "
            "template to use approval stages"
        )
    description = aws.sfn.describe_execution(executionArn=execution_arn)
    name = description["name"]
    if description["status"] != "RUNNING":
        raise AwsError(f"{name} is not running ({description['status']}): nothing to answer")
    deadline = time.monotonic() + wait_seconds
    pending = _pending(aws, stack, name)
    while pending is None and time.monotonic() < deadline:
        time.sleep(0.1)
        pending = _pending(aws, stack, name)
    if pending is None or pending.execution_arn != execution_arn:
        raise AwsError(f"{name} is not waiting for an approval")
    if stage is not None and pending.stage != stage:
        raise AwsError(f"{name} waits for an approval at stage {pending.stage}, not {stage}")
    by = aws.sts.get_caller_identity()["Arn"]
    try:
        if approve:
            aws.sfn.send_task_success(
                taskToken=pending.token, output=approval_output(pending.answer_key, by, comment)
            )
        else:
            aws.sfn.send_task_failure(
                taskToken=pending.token, error=REJECTED_ERROR, cause=rejection_cause(by, comment)
            )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}:
            raise AwsError(
                f"{name}: the approval of stage {pending.stage} can no longer be answered "
                "(it timed out, or was answered already)"
            ) from None
        raise
    return Answer(name, pending.stage, approve, by)
