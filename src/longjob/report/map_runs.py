"""A wide stage's progress while it runs: its items' counts.

A wide stage's tasks run in child executions, so the run's own history shows none of them;
it names the stage's Map Run (MapRunStarted), whose counts DescribeMapRun gives. Each
change of the counts is one line of `run`/`watch`, under the stage's name.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

# The counts a line shows, in this order (DescribeMapRun's itemCounts names).
SHOWN = (
    ("succeeded", "succeeded"),
    ("failed", "failed"),
    ("running", "running"),
    ("pending", "pending"),
)
# A 10,000-item stage changes its counts many times a second: a line at most this often
# per stage, and its last counts when it ends.
EVERY_SECONDS = 5.0


def _stage_of(event: dict[str, Any]) -> str | None:
    """The stage a wide stage's Map state runs: its input holds the stage's settings."""
    details = event.get("stateEnteredEventDetails") or {}
    try:
        given = json.loads(details.get("input") or "null")
    except ValueError:
        return None
    stage = given.get("stage") if isinstance(given, dict) else None
    return stage.get("name") if isinstance(stage, dict) else None


def counts_text(counts: dict[str, Any]) -> str:
    """ "items: 37 succeeded, 2 failed, 20 running, 41 pending of 100"."""
    failed = int(counts.get("failed", 0)) + int(counts.get("timedOut", 0))
    values = {**counts, "failed": failed}
    parts = [f"{int(values.get(key, 0))} {words}" for key, words in SHOWN]
    return f"items: {', '.join(parts)} of {int(counts.get('total', 0))}"


@dataclass
class MapRunProgress:
    sfn: Any
    stages: dict[str, str] = field(default_factory=dict)  # Map Run ARN -> stage name
    shown: dict[str, str] = field(default_factory=dict)  # Map Run ARN -> its last line
    done: set[str] = field(default_factory=set)
    said_at: dict[str, float] = field(default_factory=dict)
    every_seconds: float = EVERY_SECONDS
    _entering: str | None = None

    def feed(self, events: list[dict[str, Any]]) -> None:
        for event in sorted(events, key=lambda e: e["id"]):
            if event["type"] == "MapStateEntered":
                self._entering = _stage_of(event)
            elif event["type"] == "MapRunStarted":
                arn = (event.get("mapRunStartedEventDetails") or {}).get("mapRunArn")
                if arn and arn not in self.stages:
                    self.stages[arn] = self._entering or "?"

    def poll(self) -> list[tuple[str, str]]:
        """(stage, line) for each Map Run whose counts changed since the last poll."""
        lines = []
        for arn, stage in self.stages.items():
            if arn in self.done:
                continue
            try:
                described = self.sfn.describe_map_run(mapRunArn=arn)
            except Exception:  # noqa: BLE001, S112 - progress is a courtesy; the report follows
                continue
            text = counts_text(described.get("itemCounts") or {})
            ended = described.get("status") not in (None, "RUNNING")
            if ended:
                self.done.add(arn)
            now = time.monotonic()
            due = ended or now - self.said_at.get(arn, -self.every_seconds) >= self.every_seconds
            if due and self.shown.get(arn) != text:
                self.shown[arn] = text
                self.said_at[arn] = now
                lines.append((stage, text))
        return lines
