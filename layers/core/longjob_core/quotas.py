"""The quota guard: what a run of a document would use of AWS's quotas, in the worst case.

A run that hits a Step Functions quota mid-way dies without a summary or a notification:
`States.DataLimitExceeded` cannot be caught, and an execution whose history reaches 25,000
events fails. So every document is estimated before it runs (by `longjob validate/plan/
start/run` and by prepare_job) and refused when a worst case would not fit. The numbers
follow the state machine in statemachine/job.asl.json; docs/design.md ("Quota guard")
derives them and tests/workflow checks them against real executions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from longjob_core import limits
from longjob_core.contract import (
    ANSWER_BY_CHARS,
    ANSWER_COMMENT_CHARS,
    APPROVAL_MODE,
    FARGATE,
    FARGATE_SPOT,
    REJECTED,
    SPOT,
    SPOT_THEN_ON_DEMAND,
)
from longjob_core.cost import spot_fallback_runs
from longjob_core.explanations import EXPLANATION_CHARS, HINT_CHARS
from longjob_core.failure_reports import LOG_LINE_BYTES, with_failure_details
from longjob_core.planning import (
    DISTRIBUTED,
    MAP_RESULT_BUDGET,
    REASON_CHARS_MAX,
    compact_size,
    detach_items,
    item_record,
    make_plan,
    reason_chars,
)
from longjob_core.problems import Problem
from longjob_core.summary import FAILURES_KEPT, ITEM_CHARS, body, subject

# --- history events, per state as Step Functions records them -------------------------------
# ExecutionStarted; Prepare job (TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded,
# TaskStateExited); "Already running?" and the last "Next stage?" (Entered, Exited each);
# "Release lock?" (2) and "Release lock" (5); Notify (5); "Job ended" (2); Succeed (2);
# ExecutionSucceeded.
EVENTS_PER_EXECUTION = 1 + 5 + 2 + 2 + 2 + 5 + 5 + 2 + 2 + 1
# Retries in place of Prepare job (5), Release lock (3) and Notify (3): each adds
# TaskFailed, TaskScheduled, TaskStarted.
EVENTS_IN_PLACE_RETRIES = (5 + 3 + 3) * 3
# "Next stage?" (2) and the Map (MapStateEntered, MapStateStarted, MapStateSucceeded,
# MapStateExited). A skipped stage takes 4 (Choice, Pass), fewer than a run.
EVENTS_PER_STAGE = 2 + 4
# MapIterationStarted and MapIterationSucceeded.
EVENTS_PER_TASK = 2
# One attempt: "Run task" (TaskStateEntered, TaskScheduled, TaskStarted, TaskSubmitted,
# TaskFailed or TaskTimedOut, TaskStateExited) and "Attempt failed" (2); a retry adds
# "Back off" (2); the last failed attempt ends in "Task failed" (2).
EVENTS_PER_FAILED_ATTEMPT = 6 + 2
EVENTS_PER_BACKOFF = 2
EVENTS_TASK_FAILED = 2
# A wide stage in the parent: "Next stage?" (2), "Wide stage input" (2), "CSV items?" (2),
# the Distributed Map (MapStateEntered, MapStateStarted, MapRunStarted, MapRunSucceeded or
# MapRunFailed, MapStateSucceeded or MapStateFailed, MapStateExited) and "Read stage results"
# (5, and 3 per in-place retry of 3).
EVENTS_PER_WIDE_STAGE = 2 + 2 + 2 + 6 + 5 + 3 * 3
# An approval stage: "Next stage?" (2), "Ask approval" (TaskStateEntered, TaskScheduled,
# TaskStarted, TaskSubmitted, TaskSucceeded, TaskFailed or TaskTimedOut, TaskStateExited;
# 3 per in-place retry of the request's Lambda, at most 3) and "Check answer"
# (TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded or TaskFailed,
# TaskStateExited; 3 per in-place retry, at most 3).
EVENTS_PER_APPROVAL = 2 + 6 + 3 * 3 + 5 + 3 * 3
# One item's child execution: ExecutionStarted, its task's attempts (as above, without the
# iteration events), "Task failed" (2), "Item failed" (FailStateEntered) and ExecutionFailed.
EVENTS_PER_CHILD = 1 + 1 + 1
# Capacity and throttling errors are retried in place (3 events each, up to 11 per
# attempt); how many happen is AWS's, not the document's, so a fixed share is kept for them.
HISTORY_RESERVE = 1_000
HISTORY_BUDGET = limits.HISTORY_EVENTS - HISTORY_RESERVE

# --- payloads ------------------------------------------------------------------------------
# The Lambda integration wraps a function's result in ExecutedVersion, StatusCode and the
# HTTP metadata (headers included): room for them.
LAMBDA_RESULT_OVERHEAD = 2048
_ARN = "x" * 200  # an execution or function ARN, generously
_START_TIME = "2026-12-01T00:00:00.000Z"
# A wide stage item's child execution and Map Run: the longest state machine name, the
# Map's label, a UUID.
_CHILD_ARN = (
    f"arn:aws-us-gov:states:{'x' * 14}:123456789012:execution:"
    f"{'x' * limits.STATE_MACHINE_NAME_CHARS}/items:{'0' * 36}"
)
_MAP_RUN_ARN = _CHILD_ARN.replace(":execution:", ":mapRun:")
_BUCKET = "x" * 63  # the longest bucket name S3 allows
_LOG_GROUP = "x" * 148  # /longjob/<stack name, at most 128>/tasks
_REGION = "ap-southeast-5"  # among the longest region names
_NOTIFICATION = "failed: " + "x" * limits.ERROR_CHARS
# The most items a wide stage's counts can show (a Map Run's item counts are longs; this
# many digits is generous).
WIDE_ITEMS_MAX = 10**12


@dataclass(frozen=True)
class Estimate:
    """One worst-case figure of a run, beside the limit it must stay under."""

    what: str
    value: int
    limit: int
    unit: str
    pointer: str
    detail: str
    limit_text: str

    @property
    def fits(self) -> bool:
        return self.value <= self.limit

    def problem(self) -> Problem:
        return Problem(
            self.pointer,
            f"{self.detail} \u2248 {self.value:,} {self.unit}, over {self.limit_text}: "
            "a run could fail half-way without a summary",
        )


def runs_at_most(stage: dict[str, Any]) -> int:
    """A task's attempts, and the Spot run a spot-then-on-demand task may lose besides."""
    return stage["maxAttempts"] + spot_fallback_runs(stage)


def task_events(attempts: int) -> int:
    """History events of one task whose every attempt fails (its worst case)."""
    return (
        EVENTS_PER_TASK
        + attempts * EVENTS_PER_FAILED_ATTEMPT
        + (attempts - 1) * EVENTS_PER_BACKOFF
        + EVENTS_TASK_FAILED
    )


def child_events(attempts: int) -> int:
    """History events of one wide-stage item's child execution whose every attempt fails."""
    return EVENTS_PER_CHILD + task_events(attempts) - EVENTS_PER_TASK


def _stage_events(stage: dict[str, Any]) -> int:
    """A stage's events in the parent's history: a wide stage's tasks are in its children."""
    if stage["mode"] == DISTRIBUTED:
        return EVENTS_PER_WIDE_STAGE
    if stage["mode"] == APPROVAL_MODE:
        return EVENTS_PER_APPROVAL
    return EVENTS_PER_STAGE + len(stage["items"]) * task_events(runs_at_most(stage))


def _where(index: int, stage: dict[str, Any]) -> str:
    if stage["mode"] == APPROVAL_MODE:
        return f"/stages/{index}/approval"
    if stage["items"] is None:
        return f"/stages/{index}/forEachFrom"
    return f"/stages/{index}/forEach" if stage["items"] != [None] else f"/stages/{index}"


def history_estimate(plan: dict[str, Any]) -> Estimate:
    """The longest history of the run's executions: the parent's, or a wide stage's child's
    (each has its own 25,000 events)."""
    per_stage = [_stage_events(stage) for stage in plan["stages"]]
    total = EVENTS_PER_EXECUTION + EVENTS_IN_PLACE_RETRIES + sum(per_stage)
    children = [
        (child_events(runs_at_most(stage)), index)
        for index, stage in enumerate(plan["stages"])
        if stage["mode"] == DISTRIBUTED
    ]
    child, child_index = max(children, default=(0, 0))
    if child > total:  # not with today's limits (10 retries): kept so the figure is honest
        stage = plan["stages"][child_index]
        return Estimate(
            "execution history",
            child,
            HISTORY_BUDGET,
            "events",
            _where(child_index, stage),
            f"one item's child execution, {stage['maxAttempts']} attempt(s)",
            f"the {HISTORY_BUDGET:,} longjob allows",
        )
    biggest = max(range(len(per_stage)), key=per_stage.__getitem__)
    stage = plan["stages"][biggest]
    tasks = "?" if stage["items"] is None else f"{len(stage['items']):,}"
    where = _where(biggest, stage)
    largest = (
        "an approval stage"
        if stage["mode"] == APPROVAL_MODE
        else f"{tasks} task(s) \u00d7 {stage['maxAttempts']} attempt(s)"
    )
    detail = f"{len(per_stage)} stages, the largest {largest}" if len(per_stage) > 1 else largest
    if stage["mode"] == DISTRIBUTED:
        detail += " (a wide stage: its tasks' events are in their own child executions)"
    return Estimate(
        "execution history",
        total,
        HISTORY_BUDGET,
        "events",
        where,
        detail,
        f"the {HISTORY_BUDGET:,} longjob allows (Step Functions fails an execution at "
        f"{limits.HISTORY_EVENTS:,} history events; {HISTORY_RESERVE:,} are kept for "
        "in-place retries)",
    )


def prepare_arguments_size(document: dict[str, Any]) -> int:
    """Bytes of the Prepare job state's arguments: the document and the execution's ids."""
    return compact_size(
        {
            "FunctionName": _ARN,
            "Payload": {
                "document": document,
                "execution": {"Id": _ARN, "Name": _name(), "StartTime": _START_TIME},
                "stateMachineArn": _ARN,
            },
        }
    )


def _name() -> str:
    return "x" * limits.EXECUTION_NAME_CHARS


def worst_plan(document: dict[str, Any]) -> dict[str, Any]:
    return make_plan(document, _name(), _START_TIME, overlapping_execution=_ARN, run_bucket=_BUCKET)


def worst_summary(plan: dict[str, Any]) -> dict[str, Any]:
    """The largest summary the workflow can build for this plan: every stage run, every
    task failed, failures kept up to FAILURES_KEPT, the notification failed."""
    stages, kept = [], 0
    for stage in plan["stages"]:
        if stage["mode"] == APPROVAL_MODE:
            stages.append(worst_approval(stage))
            continue
        wide = stage["mode"] == DISTRIBUTED
        # A wide stage's item count may be unknown until it runs (forEachFrom): its
        # counts are written with the most digits a Map Run's can have.
        tasks = WIDE_ITEMS_MAX if stage["items"] is None else len(stage["items"])
        room = max(0, min(FAILURES_KEPT - kept, tasks))
        kept += room
        failures = [
            {
                "item": None if stage["items"] == [None] else '"' * ITEM_CHARS,
                "status": "TIMED_OUT",
                "exitCode": 255,
                "stopCode": "ServiceSchedulerInitiated",
                "reason": '"' * stage["reasonChars"],
                "attempts": stage["maxAttempts"],
                "taskId": "0" * 32,
                **({"execution": _CHILD_ARN} if wide else {}),
            }
            for _ in range(room)
        ]
        record = {
            "name": stage["name"],
            "status": "TIMED_OUT",
            "tasks": tasks,
            "succeeded": tasks,
            "exitCode": 255,
            "attempts": stage["maxAttempts"],
            "startedAt": 10**13,
            "stoppedAt": 10**13,
            "taskId": "0" * 32,
            "failures": failures,
        }
        if wide:
            record.update(mode=DISTRIBUTED, failed=tasks, notRun=tasks, mapRun=_MAP_RUN_ARN)
        elif tasks == 1 and stage.get("capacity") in (SPOT, SPOT_THEN_ON_DEMAND):
            # The attempts Fargate Spot took back: each of them, on Spot alone.
            lost = stage["maxAttempts"] + spot_fallback_runs(stage)
            record["spotLost"] = {"capacity": stage["capacity"], "attempts": [10] * lost}
        stages.append(record)
    return {
        "job": plan["job"],
        "execution": _name(),
        "status": "TIMED_OUT",
        "error": "JobTimedOut",
        "notify": plan["notify"],
        "logLines": plan["notifyLogLines"],
        "logGroup": _LOG_GROUP,
        "stages": stages,
        "notification": _NOTIFICATION,
        "cost": worst_cost(len(stages)),
        # Attempts resumed from a checkpoint, per stage: at most every run of every task.
        "resumed": [
            0
            if s["mode"] == APPROVAL_MODE
            else (WIDE_ITEMS_MAX if s["items"] is None else len(s["items"])) * runs_at_most(s)
            for s in plan["stages"]
        ],
    }


def worst_approval(stage: dict[str, Any]) -> dict[str, Any]:
    """An approval stage's largest record: the longest answer the workflow keeps, and a
    reason besides (an answer without its key has both). Printable ASCII: each character
    takes at most two in JSON (a quote or a backslash)."""
    return {
        "name": stage["name"],
        "mode": APPROVAL_MODE,
        "status": REJECTED,
        "startedAt": 10**13,
        "stoppedAt": 10**13,
        "reason": '"' * REASON_CHARS_MAX,
        "answer": {"by": '"' * ANSWER_BY_CHARS, "comment": '"' * ANSWER_COMMENT_CHARS},
    }


def worst_cost(stages: int) -> dict[str, Any]:
    """The largest cost object Notify adds to a summary (longjob_core.cost.run_cost)."""
    usd = 123_456.789012  # more than any run costs, with every decimal kept
    seconds = {"vcpuSeconds": 123_456_789_012.5, "gbSeconds": 123_456_789_012.5}
    return {
        "currency": "USD",
        "estimate": True,
        "region": _REGION,
        "prices": "2026-12-01 (" + _REGION + " list prices)",
        "architecture": "X86_64",
        "total": usd,
        "fargate": usd,
        "taskSeconds": {FARGATE: seconds, FARGATE_SPOT: seconds},
        "ephemeralStorage": usd,
        "stateTransitions": {"count": 10_000_000, "usd": usd},
        "lambda": {"requests": 1_000, "gbSeconds": 123_456.789, "usd": usd},
        "stages": [usd] * stages,
    }


def worst_notified(plan: dict[str, Any]) -> dict[str, Any]:
    """The largest summary a notification can show: the worst summary with, per failure,
    the longest explanation and hint, and every log line at its longest (in bytes)."""
    summary = with_failure_details(
        worst_summary(plan), lambda _stream, count: ["\u00e9" * LOG_LINE_BYTES] * count, _REGION
    )
    for stage in summary["stages"]:
        for failure in stage.get("failures", []):
            failure.update(explanation="x" * EXPLANATION_CHARS, hint="x" * HINT_CHARS)
    return summary


def _stage_result(index: int, stage: dict[str, Any]) -> Estimate:
    """The stage's Map result when every task fails: one record per task."""
    tasks = len(stage["items"])
    record = compact_size(item_record(tasks - 1, max(0, reason_chars(tasks))))
    return Estimate(
        "largest stage result",
        tasks * record + tasks + 1,  # records, commas and brackets
        MAP_RESULT_BUDGET,
        "bytes",
        f"/stages/{index}/forEach" if stage["items"] != [None] else f"/stages/{index}",
        f"{tasks:,} failed task record(s) in the stage's Map result",
        f"the {MAP_RESULT_BUDGET:,} bytes a Map result may use of Step Functions' "
        f"payload limit ({limits.PAYLOAD_BYTES:,})",
    )


def estimates(document: dict[str, Any], plan: dict[str, Any] | None = None) -> list[Estimate]:
    """Every worst-case figure of a valid document's run, with its limit (``plan``: the
    document's worst_plan, when the caller has it already)."""
    plan = plan or worst_plan(document)
    found = [
        Estimate(
            "Prepare job arguments",
            prepare_arguments_size(document),
            limits.PAYLOAD_BYTES,
            "bytes",
            "",
            "the document with the execution's ids, as Prepare job's arguments,",
            f"Step Functions' payload limit of {limits.PAYLOAD_BYTES:,} bytes",
        ),
        Estimate(
            "plan",
            compact_size(detach_items(plan)[0]) + LAMBDA_RESULT_OVERHEAD,
            limits.PAYLOAD_BYTES,
            "bytes",
            "",
            "the plan prepare_job returns (every state's input)",
            f"Step Functions' payload limit of {limits.PAYLOAD_BYTES:,} bytes",
        ),
        history_estimate(plan),
    ]
    results = [
        _stage_result(index, stage)
        for index, stage in enumerate(plan["stages"])
        # A wide stage's results are written to S3; an approval stage has no tasks.
        if stage["mode"] not in (DISTRIBUTED, APPROVAL_MODE)
    ]
    if results:
        found.append(max(results, key=lambda e: e.value))
    summary = worst_summary(plan)
    found += [
        Estimate(
            "summary",
            len(json.dumps(summary, separators=(",", ":"))),
            limits.CAUSE_CHARS,
            "characters",
            "/stages",
            f"the summary of {len(plan['stages'])} stage(s), as the failed execution's cause,",
            f"Step Functions' cause limit of {limits.CAUSE_CHARS:,} characters",
        ),
        Estimate(
            "notification",
            len(body(worst_notified(plan)).encode()),
            limits.SNS_MESSAGE_BYTES,
            "bytes",
            "/stages",
            "the notification text",
            f"SNS's message limit of {limits.SNS_MESSAGE_BYTES:,} bytes",
        ),
        Estimate(
            "notification subject",
            len(subject(summary)),
            limits.SNS_SUBJECT_CHARS,
            "characters",
            "/job",
            "the notification subject",
            f"SNS's subject limit of {limits.SNS_SUBJECT_CHARS} characters",
        ),
    ]
    return found


def quota_problems(document: dict[str, Any], plan: dict[str, Any]) -> list[Problem]:
    """A problem for every worst case over its limit (only for schema-valid documents)."""
    return [e.problem() for e in estimates(document, plan) if not e.fits]


def document_problems(document: Any) -> list[Problem]:
    """The one limit any JSON value has: the execution input's size."""
    size = compact_size(document)
    if size > limits.PAYLOAD_BYTES:
        return [
            Problem(
                "",
                f"is {size:,} bytes; Step Functions accepts an execution input of at most "
                f"{limits.PAYLOAD_BYTES:,}",
            )
        ]
    return []
