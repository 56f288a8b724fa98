"""Approval gates: what the workflow, Notify and `longjob approve` agree on.

At an approval stage the state machine invokes Notify with a task token (`Ask approval`,
.waitForTaskToken). Notify stores the token in the stack's lock table with a fresh answer
key, under approval/<execution name>, and sends the request. `longjob approve` reads that
item and sends the token back: SendTaskSuccess with the key (approved), or SendTaskFailure
with contract.REJECTED_ERROR (rejected). The workflow's `Check answer` deletes the item only
if the answer carries the key, so the token alone (Step Functions records it in the task's
arguments, in the execution history) cannot approve.

Nothing here logs or prints the token or the key.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from longjob_core.contract import ANSWER_BY_CHARS, ANSWER_COMMENT_CHARS, approval_key
from longjob_core.summary import clean, cut_subject, human_duration, stage_table

# The item outlives the wait by this much, then DynamoDB's TTL removes it (a rejected or
# timed-out gate's token is spent; nothing reads it again).
ITEM_GRACE_SECONDS = 86400
KEY_BYTES = 32  # the answer key's randomness (secrets.token_urlsafe)


@dataclass(frozen=True)
class Request:
    """An approval the workflow is waiting for (without the token: see PendingItem)."""

    execution_arn: str
    stage: str
    message: str
    approvers: str | None
    timeout_seconds: int

    @classmethod
    def of(cls, approval: dict[str, Any]) -> Request:
        return cls(
            execution_arn=str(approval["executionArn"]),
            stage=str(approval["stage"]),
            message=str(approval.get("message") or ""),
            approvers=approval.get("approvers") or None,
            timeout_seconds=int(approval["timeoutSeconds"]),
        )

    @property
    def execution(self) -> str:
        return self.execution_arn.rsplit(":", 1)[-1]


def new_item(request: Request, token: str, now: float) -> dict[str, Any]:
    """The lock-table item of a pending approval: the token and a fresh answer key."""
    return {
        "job": {"S": approval_key(request.execution)},
        "token": {"S": token},
        "answerKey": {"S": secrets.token_urlsafe(KEY_BYTES)},
        "executionArn": {"S": request.execution_arn},
        "stage": {"S": request.stage},
        "requestedAt": {"N": str(int(now))},
        "expiresAt": {"N": str(int(now) + request.timeout_seconds + ITEM_GRACE_SECONDS)},
    }


@dataclass(frozen=True)
class PendingItem:
    """A pending approval as `longjob approve` reads it from the lock table."""

    execution_arn: str
    stage: str
    token: str
    answer_key: str

    @classmethod
    def of(cls, item: dict[str, Any]) -> PendingItem:
        return cls(
            execution_arn=item["executionArn"]["S"],
            stage=item["stage"]["S"],
            token=item["token"]["S"],
            answer_key=item["answerKey"]["S"],
        )

    def __repr__(self) -> str:  # never the token or the key, whatever prints it
        return f"PendingItem(execution_arn={self.execution_arn!r}, stage={self.stage!r})"


def approval_output(key: str, by: str, comment: str) -> str:
    """SendTaskSuccess's output: the key (Check answer's condition) and who answered."""
    return json.dumps(
        {"key": key, "by": by[:ANSWER_BY_CHARS], "comment": comment[:ANSWER_COMMENT_CHARS]}
    )


def rejection_cause(by: str, comment: str) -> str:
    """SendTaskFailure's cause: "<ARN> <comment>" (an ARN has no space; the workflow splits
    at the first one, never parsing JSON an answer could break)."""
    return f"{by[:ANSWER_BY_CHARS]} {comment[:ANSWER_COMMENT_CHARS]}".rstrip()


def answer_commands(execution: str, stage: str, stack: str | None) -> list[str]:
    """The commands that answer a stage (--stage: an answer never reaches a later stage
    that its approver has not seen)."""
    where = f" --stack {stack}" if stack else ""
    command = f"longjob approve {execution} --stage {stage}{where}"
    return [command, f'{command} --reject --comment "why"']


def request_subject(summary: dict[str, Any], request: Request) -> str:
    return cut_subject(f"[longjob] {summary.get('job', '?')} waits for approval: {request.stage}")


def request_body(
    summary: dict[str, Any], request: Request, now: datetime, stack: str | None
) -> str:
    """The request: what is asked, by when, how to answer, and the stages so far."""
    summary = clean(summary)
    by = now.astimezone(UTC).timestamp() + request.timeout_seconds
    deadline = datetime.fromtimestamp(by, UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Job {summary.get('job', '?')}: waiting for approval at stage {request.stage}",
        f"Execution: {request.execution}",
        "",
        *(clean(line) for line in request.message.splitlines()),
    ]
    if request.approvers:
        lines.append(f"Approvers: {clean(request.approvers)}")
    lines += [
        "",
        f"Answer by {deadline} (in {human_duration(request.timeout_seconds)}); without an "
        "answer the run ends TIMED_OUT.",
        "To approve, or to reject:",
        *(f"  {command}" for command in answer_commands(request.execution, request.stage, stack)),
    ]
    stages = summary.get("stages") or []
    if stages:
        lines += ["", "Stages so far:", *stage_table(stages)]
    return "\n".join(lines) + "\n"
