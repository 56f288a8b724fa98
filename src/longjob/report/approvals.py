"""Approval stages in a run's history: when the run starts waiting for an answer, and
what a watcher tells the person who can give it.

The gate's request is in the `Ask approval` state's TaskScheduled event (the arguments
Step Functions recorded, the task token among them): only the stage, the message, the
approvers and the wait are read from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from longjob_core.approvals import answer_commands
from longjob_core.summary import clean, human_duration

ASK_STATE = "Ask approval"  # the ASL's state (tests/unit/test_contract.py)


@dataclass(frozen=True)
class Gate:
    """An approval stage the run waits at."""

    stage: str
    message: str
    approvers: str | None
    timeout_seconds: int
    opened_at: datetime

    @property
    def deadline(self) -> datetime:
        return self.opened_at + timedelta(seconds=self.timeout_seconds)

    def remaining_seconds(self, now: datetime | None = None) -> float:
        return (self.deadline - (now or datetime.now(UTC))).total_seconds()


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


class GateReader:
    """Feeds on history events; reports each gate once, when its request is scheduled."""

    def __init__(self) -> None:
        self._in_gate = False
        self.open: Gate | None = None

    def feed(self, events: list[dict[str, Any]]) -> list[Gate]:
        opened = []
        for event in events:
            kind = event.get("type")
            details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
            if kind == "TaskStateEntered" and (details or {}).get("name") == ASK_STATE:
                self._in_gate = True
            elif kind == "TaskStateExited" and (details or {}).get("name") == ASK_STATE:
                self._in_gate = False
                self.open = None
            elif kind == "TaskScheduled" and self._in_gate and self.open is None:
                gate = _gate_of(event)
                if gate is not None:
                    self.open = gate
                    opened.append(gate)
        # Only the gate still open: one that opened and closed in this batch is history.
        return [gate for gate in opened if gate is self.open]


def _gate_of(event: dict[str, Any]) -> Gate | None:
    parameters = (event.get("taskScheduledEventDetails") or {}).get("parameters")
    try:
        if isinstance(parameters, str):
            parameters = json.loads(parameters)
        approval = parameters["Payload"]["approval"]
        return Gate(
            stage=str(approval["stage"]),
            message=str(approval.get("message") or ""),
            approvers=approval.get("approvers") or None,
            timeout_seconds=int(approval["timeoutSeconds"]),
            opened_at=_moment(event.get("timestamp")),
        )
    except (TypeError, KeyError, ValueError):
        return None


def question_lines(gate: Gate) -> list[str]:
    """The question and who should answer it, as every watcher prints them."""
    lines = [f"waiting for approval: {clean(gate.message)}"]
    if gate.approvers:
        lines.append(f"approvers: {clean(gate.approvers)}")
    return lines


def gate_lines(gate: Gate, execution: str, stack: str | None) -> list[str]:
    """What `watch` prints when the run starts waiting: the question, who, by when, and
    the commands that answer it."""
    lines = question_lines(gate)
    lines.append(
        f"answer by {gate.deadline.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')} "
        f"(in {human_duration(gate.remaining_seconds())}), with:"
    )
    lines += [f"  {command}" for command in answer_commands(execution, gate.stage, stack)]
    return lines
