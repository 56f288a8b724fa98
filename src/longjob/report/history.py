"""Reads a job execution's history: which task attempts ran, for which stage and item, on
which ECS task, and how each ended. Fed incrementally, so `watch` can follow a live run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from longjob_core.contract import (
    ATTEMPT_ENV,
    DEADLINE_EXIT_CODE,
    DEADLINE_REASON,
    ITEM_ENV,
    STAGE_ENV,
    label,
    stream_of,
)
from longjob_core.summary import summary_from


@dataclass
class Attempt:
    stage: str
    item: str | None
    number: int
    scheduled_id: int
    scheduled_at: datetime | None = None
    task_arn: str | None = None
    status: str = "SCHEDULED"  # RUNNING, SUCCEEDED, FAILED, TIMED_OUT
    exit_code: int | None = None
    reason: str | None = None
    started_at: float | None = None  # epoch ms, from the task description
    stopped_at: float | None = None

    @property
    def label(self) -> str:
        return label(self.stage, self.item)

    @property
    def task_id(self) -> str | None:
        return self.task_arn.rsplit("/", 1)[-1] if self.task_arn else None

    @property
    def stream(self) -> str | None:
        return stream_of(self.task_id) if self.task_id else None


@dataclass
class Change:
    kind: str  # "scheduled", "running", "ended"
    attempt: Attempt


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _environment(parameters: str) -> dict[str, str]:
    try:
        overrides = json.loads(parameters)["Overrides"]["ContainerOverrides"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return {}
    return {v.get("Name"): v.get("Value") for v in overrides.get("Environment", [])}


def _task(text: str | None) -> dict[str, Any]:
    try:
        task = json.loads(text or "")
    except ValueError:
        return {}
    if isinstance(task, dict) and "Tasks" in task:  # the RunTask response (TaskSubmitted)
        task = (task["Tasks"] or [{}])[0]
    return task if isinstance(task, dict) else {}


@dataclass
class HistoryReader:
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    attempts: dict[int, Attempt] = field(default_factory=dict)
    last_id: int = 0

    def feed(self, events: list[dict[str, Any]]) -> list[Change]:
        changes = []
        for event in sorted(events, key=lambda e: e["id"]):
            if event["id"] <= self.last_id:
                continue
            self.last_id = event["id"]
            self.events[event["id"]] = event
            change = self._read(event)
            if change is not None:
                changes.append(change)
        return changes

    def _scheduled_of(self, event: dict[str, Any]) -> Attempt | None:
        """The attempt an event belongs to: follow previousEventId to its TaskScheduled."""
        seen = 0
        current: dict[str, Any] | None = event
        while current is not None and seen < 10:
            if current["id"] in self.attempts:
                return self.attempts[current["id"]]
            current = self.events.get(current.get("previousEventId", 0))
            seen += 1
        return None

    def _read(self, event: dict[str, Any]) -> Change | None:
        details = _details(event)
        if details.get("resourceType") != "ecs":
            return None
        kind = event["type"]
        if kind == "TaskScheduled":
            env = _environment(details.get("parameters", ""))
            attempt = Attempt(
                stage=env.get(STAGE_ENV, "?"),
                item=env.get(ITEM_ENV),
                number=int(env.get(ATTEMPT_ENV, "1") or 1),
                scheduled_id=event["id"],
                scheduled_at=event.get("timestamp"),
            )
            self.attempts[event["id"]] = attempt
            return Change("scheduled", attempt)
        attempt = self._scheduled_of(event)
        if attempt is None:
            return None
        if kind == "TaskSubmitted":
            attempt.task_arn = _task(details.get("output")).get("TaskArn")
            attempt.status = "RUNNING"
            return Change("running", attempt)
        if kind in {"TaskSucceeded", "TaskFailed", "TaskTimedOut"}:
            task = _task(details.get("output") or details.get("cause"))
            containers = task.get("Containers") or [{}]
            attempt.exit_code = containers[0].get("ExitCode")
            attempt.task_arn = attempt.task_arn or task.get("TaskArn")
            attempt.started_at = task.get("StartedAt")
            attempt.stopped_at = task.get("StoppedAt")
            if kind == "TaskSucceeded" and not task:
                # The local engine's record of a task whose execution was stopped.
                attempt.status = "STOPPED"
                attempt.reason = "stopped with the execution"
            elif kind == "TaskSucceeded":
                attempt.status = "SUCCEEDED"
            elif kind == "TaskTimedOut":
                attempt.status = "TIMED_OUT"
                attempt.reason = "the attempt timed out; the task was stopped"
            elif attempt.exit_code == DEADLINE_EXIT_CODE:
                attempt.status = "TIMED_OUT"
                attempt.reason = DEADLINE_REASON
            else:
                attempt.status = "FAILED"
                attempt.reason = task.get("StoppedReason") or details.get("error")
            return Change("ended", attempt)
        return None

    def in_plan_order(self, stages: list[str]) -> list[Attempt]:
        """Attempts ordered by stage (as the document lists them), then as they started."""
        rank = {name: index for index, name in enumerate(stages)}
        return sorted(
            self.attempts.values(),
            key=lambda a: (rank.get(a.stage, len(rank)), a.scheduled_id),
        )


def fetch_new_events(sfn: Any, execution_arn: str, after_id: int) -> list[dict[str, Any]]:
    """The events after ``after_id``, oldest first: read newest first and stopped at the
    first one already seen, so each poll of a long run costs its new events, not its whole
    history (GetExecutionHistory's reverseOrder)."""
    events: list[dict[str, Any]] = []
    paginator = sfn.get_paginator("get_execution_history")
    pages = paginator.paginate(
        executionArn=execution_arn, reverseOrder=True, PaginationConfig={"PageSize": 100}
    )
    for page in pages:
        for event in page["events"]:
            if event["id"] <= after_id:
                return events[::-1]
            events.append(event)
    return events[::-1]


def fetch_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    paginator = sfn.get_paginator("get_execution_history")
    for page in paginator.paginate(executionArn=execution_arn, PaginationConfig={"PageSize": 1000}):
        events.extend(page["events"])
    return events


def summary_of(description: dict[str, Any]) -> dict[str, Any] | None:
    """The job summary of an ended execution (DescribeExecution)."""
    return summary_from(description.get("output"), description.get("cause"))


def job_of(description: dict[str, Any]) -> dict[str, Any]:
    try:
        document = json.loads(description.get("input") or "{}")
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
