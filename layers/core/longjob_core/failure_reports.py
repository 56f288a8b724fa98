"""What a report adds to a summary's failures: why, what to try, the last log lines, links.

The summary the workflow builds keeps each failed task small (status, exit code, stop code,
ECS's reason, task id): it must fit a payload. After the run, whoever shows it (the notify
Lambda on AWS, the CLI everywhere) reads the task's last log lines from its stream and
adds, per failure: ``explanation`` and ``hint`` (longjob_core.explanations), ``logLines``,
``logUrl`` (the stream in the CloudWatch console) and, locally, ``logFile``; and to the
summary ``logsInsightsUrl``, a query over the task log group for the run's time.

Sizes are bounded so that the notification stays within SNS's 256 KiB whatever the job:
at most FAILURES_KEPT failures (the workflow keeps no more), at most MAX_LOG_LINES lines
each, each cut to LOG_LINE_BYTES. The quota guard counts them (quotas.worst_summary).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from longjob_core.console_links import execution_url, insights_url, log_stream_url
from longjob_core.contract import stream_of
from longjob_core.explanations import explain

DEFAULT_LOG_LINES = 10
MAX_LOG_LINES = 50
LOG_LINE_BYTES = 400
# The entrypoint's own JSON lines repeat what the report says (stage, attempt, exit code).
_ENTRYPOINT_EVENT = '{"longjob":'
# Logs Insights looks this much before the first stage and after the last.
INSIGHTS_MARGIN_MS = 60_000
INSIGHTS_QUERY = "fields @timestamp, @logStream, @message\n| sort @timestamp asc\n| limit 10000"

ReadLines = Callable[[str, int], list[str]]


def cut(line: str, limit: int = LOG_LINE_BYTES) -> str:
    """At most ``limit`` bytes of UTF-8, cut on a character boundary, marked when cut."""
    data = line.encode()
    if len(data) <= limit:
        return line
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


def log_line_count(summary: dict[str, Any]) -> int:
    count = summary.get("logLines", DEFAULT_LOG_LINES)
    if not isinstance(count, int) or isinstance(count, bool):
        return DEFAULT_LOG_LINES
    return max(0, min(MAX_LOG_LINES, count))


def cloudwatch_reader(logs: Any, log_group: str) -> ReadLines:
    """Reads a stream's last lines with GetLogEvents (newest first when startFromHead is
    false; a page may come back empty with a token, so a few pages are followed)."""

    def read(stream: str, count: int) -> list[str]:
        wanted = count + 2  # room for the entrypoint's start and end lines
        events: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "logGroupName": log_group,
            "logStreamName": stream,
            "limit": wanted,
            "startFromHead": False,
        }
        for _ in range(3):
            page = logs.get_log_events(**request)
            events = page.get("events", []) + events
            token = page.get("nextBackwardToken")
            if len(events) >= wanted or not token or token == request.get("nextToken"):
                break
            request["nextToken"] = token
        events.sort(key=lambda e: (e.get("timestamp", 0), e.get("ingestionTime", 0)))
        messages = [e.get("message", "").rstrip("\n") for e in events]
        return [m for m in messages if not m.startswith(_ENTRYPOINT_EVENT)][-count:]

    return read


def with_failure_details(
    summary: dict[str, Any],
    read_lines: ReadLines | None,
    region: str | None,
    log_file: Callable[[str], str | None] | None = None,
) -> dict[str, Any]:
    """A copy of ``summary`` whose failures say why, what to try, and where the logs are.
    A stream that cannot be read is said so in ``logError``; nothing here raises."""
    summary = {**summary, "stages": [dict(s) for s in summary.get("stages") or []]}
    log_group = summary.get("logGroup")
    count = log_line_count(summary)
    any_failure = False
    for stage in summary["stages"]:
        failures = []
        for failure in stage.get("failures") or []:
            explanation = explain(failure)
            failure = {**failure, "explanation": explanation.reason, "hint": explanation.hint}
            task_id = failure.get("taskId")
            if task_id:
                stream = stream_of(task_id)
                if read_lines is not None and count:
                    try:
                        failure["logLines"] = [cut(x) for x in read_lines(stream, count)]
                    except Exception as error:  # noqa: BLE001 - the report goes out anyway
                        failure["logError"] = _error_name(error)
                if log_file is not None:  # a run on this machine: its files, no console
                    if path := log_file(task_id):
                        failure["logFile"] = path
                elif region and log_group:
                    failure["logUrl"] = log_stream_url(region, log_group, stream)
            if failure.get("execution") and log_file is None:
                # A wide stage's item: its child execution, in the console.
                failure["executionUrl"] = execution_url(failure["execution"])
            failures.append(failure)
            any_failure = True
        if failures:
            stage["failures"] = failures
    window = _window(summary["stages"])
    if any_failure and region and log_group and window and log_file is None:
        summary["logsInsightsUrl"] = insights_url(region, log_group, *window, INSIGHTS_QUERY)
    return summary


def _window(stages: list[dict[str, Any]]) -> tuple[int, int] | None:
    starts = [s["startedAt"] for s in stages if isinstance(s.get("startedAt"), int)]
    stops = [s["stoppedAt"] for s in stages if isinstance(s.get("stoppedAt"), int)]
    if not starts or not stops:
        return None
    return min(starts) - INSIGHTS_MARGIN_MS, max(stops) + INSIGHTS_MARGIN_MS


def _error_name(error: Exception) -> str:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    if code == "ResourceNotFoundException":
        return "the task wrote no log line"
    return f"the log could not be read: {code or type(error).__name__}"
