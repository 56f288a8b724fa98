"""`longjob watch`: a job execution's progress from its history, interleaved with its
tasks' log lines, until it ends; the exit code says how it ended."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from longjob_core.summary import failure_details, stage_table

from longjob.report.history import Attempt, Change, HistoryReader, fetch_history, summary_of
from longjob.report.log_follow import LogFollower

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_SKIPPED = 3


def exit_code(description: dict[str, Any]) -> int:
    summary = summary_of(description) or {}
    if description["status"] == "SUCCEEDED":
        return EXIT_SKIPPED if summary.get("status") == "SKIPPED" else EXIT_SUCCEEDED
    return EXIT_FAILED


def _seconds(attempt: Attempt) -> str:
    if attempt.started_at is None or attempt.stopped_at is None:
        return ""
    return f" after {(attempt.stopped_at - attempt.started_at) / 1000:.1f}s"


def describe_change(change: Change) -> str:
    attempt = change.attempt
    if change.kind == "scheduled":
        retry = f" (retry {attempt.number - 1})" if attempt.number > 1 else ""
        return f"attempt {attempt.number}{retry}: starting task"
    if change.kind == "running":
        return f"attempt {attempt.number}: task {attempt.task_arn}"
    if attempt.status == "SUCCEEDED":
        return f"attempt {attempt.number}: exit code {attempt.exit_code}{_seconds(attempt)}"
    code = "" if attempt.exit_code is None else f", exit code {attempt.exit_code}"
    reason = f": {attempt.reason}" if attempt.reason else ""
    return f"attempt {attempt.number}: {attempt.status}{code}{_seconds(attempt)}{reason}"


def watch(
    sfn: Any,
    logs: Any,
    execution_arn: str,
    log_group: str,
    say: Callable[[str], None],
    poll_seconds: float = 2.0,
    live_tail: bool = True,
) -> int:
    """Follows one execution to its end; returns 0 succeeded, 1 failed, 3 skipped."""
    reader = HistoryReader()
    follower = LogFollower(logs, log_group, lambda label, line: say(f"[{label}] {line}"), live_tail)
    try:
        while True:
            description = sfn.describe_execution(executionArn=execution_arn)
            for change in reader.feed(fetch_history(sfn, execution_arn)):
                attempt = change.attempt
                if change.kind == "running" and attempt.stream:
                    follower.follow(attempt.stream, attempt.label)
                if change.kind == "ended" and attempt.stream:
                    follower.follow(attempt.stream, attempt.label)
                    follower.drain(attempt.stream)
                say(f"[{attempt.label}] {describe_change(change)}")
            follower.poll()
            if description["status"] != "RUNNING":
                break
            time.sleep(poll_seconds)
        # The history read after the end holds every event: tasks still marked running
        # were stopped with the execution; their streams are read to the end too.
        for attempt in reader.attempts.values():
            if attempt.stream and attempt.status == "RUNNING":
                follower.drain(attempt.stream)
    finally:
        follower.close()
    report(description, say)
    return exit_code(description)


def report(description: dict[str, Any], say: Callable[[str], None]) -> None:
    summary = summary_of(description)
    if summary is not None:
        if summary.get("stages"):
            say("")
            for line in stage_table(summary["stages"]):
                say(line)
        for line in failure_details(summary):
            say(line)
        if summary.get("reason"):
            say(summary["reason"])
        say(f"job {summary.get('job')}: {summary.get('status')} ({description['name']})")
    else:
        error = f" {description.get('error')}" if description.get("error") else ""
        say(f"execution {description['name']}: {description['status']}{error}")
