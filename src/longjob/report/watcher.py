"""Following a job execution, and how its end reads: the one report of every command that
runs or follows a job (`run`, `start --follow`, `watch`, `redrive --follow`).

Progress comes from the execution history, interleaved with the tasks' log lines (for a wide
stage, its item counts: report.map_runs), until the run ends; then the report, always in this
order: the stage table, what failed (why, what to try, its last log lines and where the rest
is), the reason or the document's problems, the notification, and the one-line verdict.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from longjob_core.contract import INVALID, exit_code
from longjob_core.failure_reports import cloudwatch_reader, with_failure_details
from longjob_core.summary import failure_details, human_duration, stage_table, table_notes

from longjob.errors import RunInterrupted
from longjob.report.approvals import Gate, GateReader, gate_lines
from longjob.report.history import (
    Attempt,
    Change,
    HistoryReader,
    fetch_new_events,
    job_of,
    summary_of,
)
from longjob.report.log_follow import LogFollower
from longjob.report.map_runs import MapRunProgress

Say = Callable[[str], None]


@dataclass(frozen=True)
class FailureDetails:
    """What a report adds to a summary's failures (failure_reports): the last lines of the
    task log group's streams, console links for ``region``, or, for a run on this
    machine, the path of each task's log file."""

    logs: Any
    log_group: str
    region: str | None
    log_file: Callable[[str], str | None] | None = None

    def __call__(self, summary: dict[str, Any]) -> dict[str, Any]:
        reader = cloudwatch_reader(self.logs, self.log_group)
        return with_failure_details(summary, reader, self.region, self.log_file)


def explained_summary(
    description: dict[str, Any], details: FailureDetails | None
) -> dict[str, Any] | None:
    summary = summary_of(description)
    return summary if summary is None or details is None else details(summary)


def _took(attempt: Attempt) -> str:
    if attempt.started_at is None or attempt.stopped_at is None:
        return ""
    return f" after {human_duration((attempt.stopped_at - attempt.started_at) / 1000)}"


def describe_change(change: Change) -> str:
    attempt = change.attempt
    if change.kind == "scheduled":
        retry = f" (retry {attempt.number - 1})" if attempt.number > 1 else ""
        return f"attempt {attempt.number}{retry}: starting task"
    if change.kind == "running":
        return f"attempt {attempt.number}: task {attempt.task_arn}"
    if attempt.status == "SUCCEEDED":
        return f"attempt {attempt.number}: exit code {attempt.exit_code}{_took(attempt)}"
    code = "" if attempt.exit_code is None else f", exit code {attempt.exit_code}"
    reason = f": {attempt.reason}" if attempt.reason else ""
    return f"attempt {attempt.number}: {attempt.status}{code}{_took(attempt)}{reason}"


def job_status(description: dict[str, Any]) -> str | None:
    """The run's status as the summary says it; INVALID when the document was refused."""
    summary = summary_of(description)
    if summary is not None:
        return summary.get("status")
    if description.get("error") == "InvalidJobDocument":
        return INVALID
    return None


def run_exit_code(description: dict[str, Any]) -> int:
    return exit_code(description["status"], job_status(description))


def watch(
    sfn: Any,
    logs: Any,
    execution_arn: str,
    log_group: str,
    say: Say,
    poll_seconds: float = 2.0,
    live_tail: bool = True,
    on_interrupt: Callable[[int], None] | None = None,
    details: FailureDetails | None = None,
    on_gate: Callable[[Gate], None] | None = None,
    stack_name: str | None = None,
) -> int:
    """Follows one execution to its end, prints its report, returns its exit code.

    When the run reaches an approval stage, it prints the question and the commands that
    answer it (``stack_name`` in them); ``on_gate``, when given, is called instead (a local
    run asks on the terminal).

    With ``on_interrupt``, Ctrl-C (and the signals run_on_signals turns into RunInterrupted)
    call it once with the signal number, and the run is followed to its end; the exit code
    is then 128 + that number."""
    reader = HistoryReader()
    gates = GateReader()
    progress = MapRunProgress(sfn)
    follower = LogFollower(logs, log_group, lambda label, line: say(f"[{label}] {line}"), live_tail)
    interrupted: int | None = None
    try:
        while True:
            try:
                description = sfn.describe_execution(executionArn=execution_arn)
                events = fetch_new_events(sfn, execution_arn, reader.last_id)
                progress.feed(events)
                for change in reader.feed(events):
                    attempt = change.attempt
                    if change.kind in {"running", "ended"} and attempt.stream:
                        follower.follow(attempt.stream, attempt.label)
                    if change.kind == "ended" and attempt.stream:
                        follower.drain(attempt.stream)
                    say(f"[{attempt.label}] {describe_change(change)}")
                for stage, line in progress.poll():
                    say(f"[{stage}] {line}")
                follower.poll()
                for gate in gates.feed(events):
                    if on_gate is not None:
                        on_gate(gate)
                        continue
                    for line in gate_lines(gate, description["name"], stack_name):
                        say(f"[{gate.stage}] {line}")
                if description["status"] != "RUNNING":
                    break
                time.sleep(poll_seconds)
            except (KeyboardInterrupt, RunInterrupted) as stop:
                if on_interrupt is None or interrupted is not None:
                    raise
                interrupted = getattr(stop, "signum", 2)
                on_interrupt(interrupted)
        # The history read after the end holds every event: tasks still marked running
        # were stopped with the execution; their streams are read to the end too.
        for attempt in reader.attempts.values():
            if attempt.stream and attempt.status == "RUNNING":
                follower.drain(attempt.stream)
    finally:
        follower.close()
    report(description, say, details)
    return 128 + interrupted if interrupted is not None else run_exit_code(description)


def report(description: dict[str, Any], say: Say, details: FailureDetails | None = None) -> None:
    summary = explained_summary(description, details)
    name = description["name"]
    if summary is None:
        job = job_of(description).get("job", "?")
        if job_status(description) == INVALID:
            say("")
            for problem in str(description.get("cause", "")).split("; "):
                say(problem)
            say(f"job {job}: {INVALID} ({name})")
            return
        error = f" {description.get('error')}" if description.get("error") else ""
        say(f"execution {name}: {description['status']}{error}")
        return
    if summary.get("stages"):
        say("")
        for line in stage_table(summary["stages"], summary.get("cost")):
            say(line)
    for line in table_notes(summary) + failure_details(summary):
        say(line)
    if summary.get("reason"):
        say("")
        say(summary["reason"])
    say("")
    if summary.get("notification"):
        say(f"notification: {summary['notification']}")
    if summary.get("lock"):
        say(f"lock: {summary['lock']}")
    say(f"job {summary.get('job')}: {summary.get('status')} ({name})")


def _iso(moment: Any) -> str | None:
    return moment.astimezone(UTC).isoformat() if isinstance(moment, datetime) else moment


def run_document(
    description: dict[str, Any], details: FailureDetails | None = None
) -> dict[str, Any]:
    """The one JSON shape of a run, for `run --json`, `watch --json` and `status --json`."""
    summary = explained_summary(description, details)
    return {
        "execution": description["name"],
        "executionArn": description["executionArn"],
        "job": (summary or {}).get("job") or job_of(description).get("job"),
        "status": description["status"],
        "jobStatus": job_status(description),
        "exitCode": None if description["status"] == "RUNNING" else run_exit_code(description),
        "startDate": _iso(description.get("startDate")),
        "stopDate": _iso(description.get("stopDate")),
        "summary": summary,
        "error": description.get("error"),
        "cause": None if summary is not None else description.get("cause"),
    }
