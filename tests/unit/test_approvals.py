"""Approval stages: the document's rules, the plan, the request Notify sends and stores, and
the answer records the workflow keeps (their largest size is the quota guard's)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from jsonata import Jsonata
from longjob_core.approvals import (
    PendingItem,
    Request,
    approval_output,
    rejection_cause,
)
from longjob_core.contract import ANSWER_BY_CHARS, ANSWER_COMMENT_CHARS
from longjob_core.planning import make_plan
from longjob_core.quotas import worst_approval
from longjob_core.summary import table_notes
from longjob_core.validation import check

from tests.conftest import ROOT
from tests.unit.conftest import function_module

notify = function_module("notify")
STATES = json.loads((ROOT / "statemachine" / "job.asl.json").read_text())["States"]
GATE = {"name": "go", "approval": {"message": "Drop the old partitions?"}}
TASK = {"name": "drop", "run": ["bash", "drop.sh"]}


def problems(*stages: dict[str, Any], **job: Any) -> list[str]:
    return [str(p) for p in check({"job": "j", "stages": list(stages), **job})]


def test_an_approval_stage_has_only_a_name_and_its_approval() -> None:
    assert problems(GATE, TASK) == []
    assert problems({**GATE, "retries": 2, "run": ["bash", "x.sh"]}) == [
        "/stages/0/retries: an approval stage runs no task: it has only name and approval",
        "/stages/0/run: an approval stage runs no task: it has only name and approval",
    ]
    assert problems({"name": "nothing"}) == [
        "/stages/0/run: is required (an approval stage has approval)"
    ]
    assert problems({"name": "go", "approval": {"message": "", "timeoutSeconds": 0, "who": 1}}) == [
        "/stages/0/approval/message: must have at least 1 character(s)",
        "/stages/0/approval/timeoutSeconds: must be at least 1",
        "/stages/0/approval/who: unknown field (allowed: approvers, message, timeoutSeconds)",
    ]
    assert problems({"name": "go", "approval": {}}) == ["/stages/0/approval/message: is required"]
    year = {"name": "go", "approval": {"message": "ok?", "timeoutSeconds": 31536001}}
    assert problems(year) == ["/stages/0/approval/timeoutSeconds: must be at most 31536000"]


def test_the_plan_waits_no_longer_than_the_job() -> None:
    plan = make_plan({"job": "j", "stages": [GATE, TASK], "timeoutSeconds": 3600}, "run-1")
    gate = plan["stages"][0]
    assert gate == {
        "name": "go",
        "mode": "approval",
        "always": False,
        "onFailure": "stop",
        "timeoutSeconds": 3600,  # a day asked by default, but the job allows an hour
        "message": "Drop the old partitions?",
        "approvers": None,
        "items": [],
    }
    week = {**GATE, "approval": {**GATE["approval"], "timeoutSeconds": 60}}
    assert make_plan({"job": "j", "stages": [week]}, "run-1")["stages"][0]["timeoutSeconds"] == 60


class Table:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, TableName: str, Item: dict[str, Any]) -> None:
        self.items.append(Item)


def request_event(token: str = "TOKEN-" + "t" * 600) -> dict[str, Any]:
    return {
        "approval": {
            "token": token,
            "executionArn": "arn:aws:states:us-east-1:123456789012:execution:m:nightly-20261201",
            "stage": "go",
            "message": "Drop the old partitions?\nThey are 40 GB.",
            "approvers": "the DBA on call",
            "timeoutSeconds": 7200,
        },
        "summary": {
            "job": "nightly",
            "execution": "nightly-20261201",
            "status": "WAITING",
            "notify": "never",
            "stages": [{"name": "count", "status": "SUCCEEDED", "exitCode": 0, "attempts": 1}],
        },
    }


def test_the_request_stores_the_token_and_sends_the_question_without_it() -> None:
    table, sent = Table(), []
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    event = request_event()
    result = notify.request_approval(
        event,
        "locks",
        table,
        lambda message: sent.append(message) or {"sent": ["sns"]},
        "prod-jobs",
        now,
    )
    [item] = table.items
    assert item["job"] == {"S": "approval/nightly-20261201"}
    assert item["token"] == {"S": event["approval"]["token"]}
    assert len(item["answerKey"]["S"]) >= 43  # 32 random bytes
    assert item["expiresAt"] == {"N": str(int(now.timestamp()) + 7200 + 86400)}
    # Sent whatever the job's notify policy says (here: never): only the request asks.
    [message] = sent
    assert message.subject == "[longjob] nightly waits for approval: go"
    assert message.text.splitlines()[:6] == [
        "Job nightly: waiting for approval at stage go",
        "Execution: nightly-20261201",
        "",
        "Drop the old partitions?",
        "They are 40 GB.",
        "Approvers: the DBA on call",
    ]
    assert "Answer by 2026-12-01 11:00 UTC (in 2h00m00s)" in message.text
    command = "longjob approve nightly-20261201 --stage go --stack prod-jobs"
    assert f"  {command}\n" in message.text
    assert f'  {command} --reject --comment "why"\n' in message.text
    assert "count  SUCCEEDED" in message.text
    for secret in (event["approval"]["token"], item["answerKey"]["S"]):
        assert secret not in message.text + message.webhook_text + message.subject
        assert secret not in json.dumps(result)
    assert result == {"requested": "go", "sent": ["sns"]}


def test_a_request_that_cannot_be_sent_fails() -> None:
    def refuse(_message: Any) -> dict[str, Any]:
        raise notify.NotificationFailed("sns: AuthorizationError")

    with pytest.raises(notify.NotificationFailed):
        notify.request_approval(request_event(), "locks", Table(), refuse, None)


def test_what_prints_a_pending_item_or_a_request_hides_the_token() -> None:
    item = {
        "executionArn": {"S": "arn:x"},
        "stage": {"S": "go"},
        "token": {"S": "SECRET-TOKEN"},
        "answerKey": {"S": "SECRET-KEY"},
    }
    assert "SECRET" not in repr(PendingItem.of(item)) + str(PendingItem.of(item))
    assert Request.of(request_event()["approval"]).execution == "nightly-20261201"


def evaluate(expression: str, **variables: Any) -> Any:
    compiled = Jsonata(expression.removeprefix("{%").removesuffix("%}").strip())
    for name, value in variables.items():
        compiled.assign(name, value)
    return compiled.evaluate(None)


STAGE = {"name": "go", "openedAt": 1, "timeoutSeconds": 60}


def test_the_answers_the_workflow_keeps_are_bounded_and_printable() -> None:
    """Whatever an answer carries, the record fits the quota guard's worst one."""
    by, comment = "\u00e9" * 300, '"\n\x1b[31m' * 200
    rejected = evaluate(
        STATES["Ask approval"]["Catch"][0]["Assign"]["results"],
        results=[],
        stage=STAGE,
        states={
            "errorOutput": {"Error": "longjob.Rejected", "Cause": rejection_cause(by, comment)}
        },
    )[0]
    approved = evaluate(
        STATES["Check answer"]["Assign"]["results"],
        results=[],
        stage=STAGE,
        answer=json.loads(approval_output("k", by, comment)),
    )[0]
    forged = evaluate(
        STATES["Check answer"]["Catch"][0]["Assign"]["results"],
        results=[],
        stage=STAGE,
        answer={"by": "x" * 5000, "comment": {"not": "text"}},
        states={"errorOutput": {"Error": "DynamoDB.ConditionalCheckFailedException" * 9}},
    )[0]
    worst = len(json.dumps(worst_approval({"name": "go"}), separators=(",", ":")))
    for record in (rejected, approved, forged):
        answer = record["answer"]
        assert len(answer["by"]) <= ANSWER_BY_CHARS
        assert len(answer["comment"]) <= ANSWER_COMMENT_CHARS
        assert all(" " <= c <= "~" for c in answer["by"] + answer["comment"])
        assert len(json.dumps(record, separators=(",", ":"))) <= worst
    assert rejected["answer"]["by"] == "?" * 256
    assert approved["status"] == "APPROVED"
    assert forged["answer"] == {"by": "x" * 256, "comment": ""}
    # A rejection without a cause, or with only an ARN.
    for cause, expected in (
        (None, {"by": "?", "comment": ""}),
        ("arn:x", {"by": "arn:x", "comment": ""}),
    ):
        record = evaluate(
            STATES["Ask approval"]["Catch"][0]["Assign"]["results"],
            results=[],
            stage=STAGE,
            states={"errorOutput": {"Error": "longjob.Rejected", "Cause": cause}},
        )[0]
        assert record["answer"] == expected


def test_the_report_says_who_answered_or_why_nobody_did() -> None:
    def notes(*stages: dict[str, Any]) -> list[str]:
        return table_notes({"stages": list(stages)})

    gate = {"name": "go", "mode": "approval", "startedAt": 1, "stoppedAt": 2}
    assert notes({**gate, "status": "APPROVED", "answer": {"by": "arn:a", "comment": "ok"}}) == [
        "",
        'go: approved by arn:a: "ok"',
    ]
    assert notes({**gate, "status": "REJECTED", "answer": {"by": "arn:b", "comment": ""}}) == [
        "",
        "go: rejected by arn:b",
    ]
    assert notes({**gate, "status": "TIMED_OUT", "reason": "no answer within 60 s"}) == [
        "",
        "go: no answer within 60 s",
    ]


def test_an_answer_that_cannot_be_checked_fails_the_stage_saying_so() -> None:
    refused, broken = STATES["Check answer"]["Catch"]
    assert refused["ErrorEquals"] == ["DynamoDB.ConditionalCheckFailedException"]
    answer = {"key": "k", "by": "arn:aws:iam::1:user/a", "comment": "ok"}
    record = evaluate(
        broken["Assign"]["results"],
        results=[],
        stage=STAGE,
        answer=answer,
        states={"errorOutput": {"Error": "DynamoDB.AmazonDynamoDBException"}},
    )[0]
    assert record["status"] == "FAILED"
    assert record["reason"] == "the answer could not be checked: DynamoDB.AmazonDynamoDBException"
    assert record["answer"] == {"by": "arn:aws:iam::1:user/a", "comment": "ok"}


def scheduled(event_id: int, when: datetime) -> dict[str, Any]:
    payload = {"Payload": {"approval": {**request_event()["approval"]}}}
    return {
        "id": event_id,
        "type": "TaskScheduled",
        "timestamp": when,
        "taskScheduledEventDetails": {"parameters": json.dumps(payload)},
    }


def test_a_watcher_reports_an_open_gate_once_and_in_utc() -> None:
    from longjob.report.approvals import GateReader, gate_lines

    entered = {
        "id": 1,
        "type": "TaskStateEntered",
        "stateEnteredEventDetails": {"name": "Ask approval"},
    }
    exited = {
        "id": 4,
        "type": "TaskStateExited",
        "stateExitedEventDetails": {"name": "Ask approval"},
    }
    new_york = datetime(2026, 12, 1, 4, 0, tzinfo=timezone(timedelta(hours=-5)))  # 09:00 UTC
    reader = GateReader()
    [gate] = reader.feed([entered, scheduled(2, new_york)])
    assert reader.feed([scheduled(3, new_york)]) == []  # a retry's request: the same gate
    lines = gate_lines(gate, "nightly-20261201", "prod")
    assert lines[0] == "waiting for approval: Drop the old partitions? They are 40 GB."
    assert lines[2].startswith("answer by 2026-12-01 11:00:00 UTC (in ")
    assert lines[3] == "  longjob approve nightly-20261201 --stage go --stack prod"
    assert reader.feed([exited]) == []
    assert reader.open is None
    # A gate that opened and closed between two reads is not reported as waiting.
    assert GateReader().feed([entered, scheduled(2, new_york), exited]) == []


class History:
    """A Step Functions client that knows one execution's history and records stops."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.stopped: list[dict[str, Any]] = []

    def get_paginator(self, _name: str) -> Any:
        events = self.events

        class Pages:
            def paginate(self, **_kwargs: Any) -> list[dict[str, Any]]:
                return [{"events": events}]

        return Pages()

    def stop_execution(self, **kwargs: Any) -> None:
        self.stopped.append(kwargs)


def test_an_unanswered_run_is_stopped_only_while_it_still_waits_at_the_stage() -> None:
    """`run --approve` that could not answer stops the run waiting at that stage, never a
    run that has left it (its request failed, or it timed out): that one ends by itself."""
    from longjob.cli.run import stop_unanswered

    ask = {"name": "Ask approval"}
    when = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    waiting = [
        {"id": 1, "type": "TaskStateEntered", "stateEnteredEventDetails": ask},
        scheduled(2, when),
    ]
    left = [*waiting, {"id": 3, "type": "TaskStateExited", "stateExitedEventDetails": ask}]
    for events, stopped in ((waiting, 1), (left, 0)):
        sfn = History(events)
        stop_unanswered(type("Aws", (), {"sfn": sfn})(), "arn:run", "go", "not waiting")
        assert len(sfn.stopped) == stopped
    sfn = History(waiting)
    stop_unanswered(type("Aws", (), {"sfn": sfn})(), "arn:run", "another", "not waiting")
    assert sfn.stopped == []
