"""Failure explanations, log lines and console links (longjob_core.explanations,
failure_reports, console_links): what a reader of a failed run's report is told."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from longjob_core.console_links import execution_url, insights_url, log_stream_url
from longjob_core.explanations import EXPLANATION_CHARS, HINT_CHARS, explain
from longjob_core.failure_reports import (
    LOG_LINE_BYTES,
    MAX_LOG_LINES,
    cut,
    with_failure_details,
)
from longjob_core.summary import failure_details

TASK = "0f3c9d2e8a7b4c5d9e1f2a3b4c5d6e7f"

# One failure record per cause, as the workflow records it, with the words a reader gets.
CAUSES = [
    (
        {
            "status": "FAILED",
            "exitCode": 2,
            "stopCode": "EssentialContainerExited",
            "reason": "Essential container in task exited",
        },
        "the script exited with code 2",
    ),
    (
        {"status": "TIMED_OUT", "exitCode": 124, "reason": "stopped at its deadline"},
        "the script was stopped at its deadline (SIGTERM, then SIGKILL after the grace)",
    ),
    (
        {"status": "TIMED_OUT", "exitCode": None, "reason": "States.Timeout: the state timed out"},
        "the attempt ran past its timeout and Step Functions stopped it",
    ),
    (
        {
            "status": "FAILED",
            "exitCode": 137,
            "stopCode": "EssentialContainerExited",
            "reason": "OutOfMemoryError: Container killed due to memory usage",
        },
        "the script was killed for memory (exit code 137)",
    ),
    (
        {
            "status": "FAILED",
            "exitCode": None,
            "stopCode": "TaskFailedToStart",
            "reason": "CannotPullContainerError: pull image manifest has been retried 7 time(s): "
            "failed to resolve ref repo:v1: repo:v1: not found",
        },
        "the image could not be pulled",
    ),
    (
        {
            "status": "FAILED",
            "exitCode": None,
            "stopCode": "TaskFailedToStart",
            "reason": "ResourceInitializationError: failed to validate logger args: create "
            "stream has been retried 1 times: AccessDeniedException",
        },
        "the task could not write its logs",
    ),
    (
        {
            "status": "FAILED",
            "exitCode": None,
            "stopCode": "TaskFailedToStart",
            "reason": "ResourceInitializationError: unable to pull secrets or registry auth",
        },
        "the task could not get its registry credentials",
    ),
    (
        {
            "status": "FAILED",
            "exitCode": 143,
            "stopCode": "SpotInterruption",
            "reason": "Your Spot Task was interrupted.",
        },
        "Fargate Spot took its capacity back (a Spot interruption)",
    ),
    (
        {
            "status": "FAILED",
            "exitCode": 143,
            "stopCode": "UserInitiated",
            "reason": "Task stopped by user",
        },
        "the task was stopped before its script ended (exit code 143)",
    ),
    (
        {"status": "FAILED", "exitCode": 125, "reason": "Essential container in task exited"},
        "a secret reference could not be resolved, so the script never started",
    ),
    ({"status": "FAILED", "exitCode": 126}, "the entrypoint refused the command, so nothing ran"),
    ({"status": "FAILED", "exitCode": 127}, "the script or its interpreter is not in the image"),
    ({"status": "FAILED", "exitCode": 137}, "the script was killed (SIGKILL, exit code 137)"),
    (
        {
            "status": "FAILED",
            "exitCode": None,
            "reason": "ECS.AmazonECSException: Capacity is unavailable at this time.",
        },
        "ECS did not start the task (capacity or throttling), even after the retries in place",
    ),
    (
        {
            "status": "FAILED",
            "exitCode": None,
            "reason": "ECS.AccessDeniedException: User: arn:aws:sts::1:assumed-role/sm is not "
            "authorized to perform: iam:PassRole",
        },
        "AWS refused a call the workflow made",
    ),
    (
        {
            "status": "FAILED",
            "exitCode": None,
            "reason": "ECS.InvalidParameterException: Error retrieving subnet information",
        },
        "ECS refused to run the task",
    ),
    ({"status": "FAILED", "exitCode": None, "reason": "States.Runtime: odd"}, "the task failed"),
]


@pytest.mark.parametrize(("failure", "words"), CAUSES)
def test_each_cause_has_its_plain_reason_and_a_short_hint(failure: dict, words: str) -> None:
    explanation = explain(failure)
    assert explanation.reason == words
    assert len(explanation.reason) <= EXPLANATION_CHARS
    assert explanation.hint is None or len(explanation.hint) <= HINT_CHARS


def test_a_missing_tag_and_a_refused_pull_get_different_hints() -> None:
    missing = explain({"reason": "CannotPullContainerError: ...: repo:v9: not found"})
    refused = explain({"reason": "CannotPullContainerError: ... 403 Forbidden: AccessDenied"})
    assert missing.hint is not None
    assert missing.hint.startswith("the image tag does not exist")
    assert refused.hint is not None
    assert "execution role" in refused.hint


def summary_with(failures: list[dict], **fields: object) -> dict:
    return {
        "job": "nightly",
        "execution": "nightly-1",
        "status": "FAILED",
        "logGroup": "/longjob/prod/tasks",
        "stages": [
            {
                "name": "backup",
                "status": "FAILED",
                "tasks": 1,
                "succeeded": 0,
                "startedAt": 1_764_550_800_000,
                "stoppedAt": 1_764_551_523_000,
                "failures": failures,
            }
        ],
        **fields,
    }


def test_details_add_lines_links_and_explanations() -> None:
    asked: list[tuple[str, int]] = []

    def read(stream: str, count: int) -> list[str]:
        asked.append((stream, count))
        return ["pg_dump: error: connection refused", "x" * 1000]

    failure = {"status": "FAILED", "exitCode": 1, "taskId": TASK, "attempts": 3}
    summary = with_failure_details(summary_with([failure], logLines=7), read, "eu-west-1")
    detailed = summary["stages"][0]["failures"][0]
    assert asked == [(f"toolbox/toolbox/{TASK}", 7)]
    assert detailed["explanation"] == "the script exited with code 1"
    assert detailed["logLines"][0] == "pg_dump: error: connection refused"
    assert len(detailed["logLines"][1].encode()) <= LOG_LINE_BYTES
    assert detailed["logUrl"] == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#logsV2:log-groups/log-group/$252Flongjob$252Fprod$252Ftasks/log-events/"
        f"toolbox$252Ftoolbox$252F{TASK}"
    )
    assert summary["logsInsightsUrl"].startswith(
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#logsV2:logs-insights$3FqueryDetail$3D$257E$2528end$257E$2527"
    )
    text = "\n".join(failure_details(summary))
    assert "backup: FAILED, exit code 1, 3 attempt(s)" in text
    assert "  | pg_dump: error: connection refused" in text
    assert f"  log: {detailed['logUrl']}" in text


@pytest.mark.parametrize(("asked", "read"), [(None, 10), (0, 0), (3, 3), (500, MAX_LOG_LINES)])
def test_the_number_of_lines_is_the_documents_within_bounds(asked: object, read: int) -> None:
    counts: list[int] = []
    fields = {} if asked is None else {"logLines": asked}
    summary = summary_with([{"status": "FAILED", "exitCode": 1, "taskId": TASK}], **fields)
    with_failure_details(summary, lambda _s, n: counts.append(n) or [], "eu-west-1")
    assert counts == ([read] if read else [])


def test_a_log_that_cannot_be_read_is_said_and_the_report_still_goes_out() -> None:
    def denied(_stream: str, _count: int) -> list[str]:
        raise ClientError({"Error": {"Code": "AccessDeniedException"}}, "GetLogEvents")

    summary = summary_with([{"status": "FAILED", "exitCode": 1, "taskId": TASK}])
    detailed = with_failure_details(summary, denied, "eu-west-1")["stages"][0]["failures"][0]
    assert detailed["logError"] == "the log could not be read: AccessDeniedException"
    assert "  (the log could not be read: AccessDeniedException)" in failure_details(
        with_failure_details(summary, denied, "eu-west-1")
    )


def test_lines_are_cut_on_a_character_boundary() -> None:
    line = "é" * 300  # 600 bytes
    assert len(cut(line).encode()) <= LOG_LINE_BYTES
    assert cut(line).endswith("…")
    assert cut("short") == "short"


def test_console_links() -> None:
    arn = "arn:aws:states:eu-west-1:123456789012:execution:longjob-prod-job:n1"
    assert execution_url(arn) == (
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1"
        f"#/v2/executions/details/{arn}"
    )
    assert log_stream_url("cn-north-1", "/g", "a/b").startswith(
        "https://cn-north-1.console.amazonaws.cn/cloudwatch/home?region=cn-north-1"
    )
    url = insights_url("us-east-1", "/longjob/x/tasks", 0, 60_000, "fields @message")
    assert url.endswith(
        "$257E$2528end$257E$25271970-01-01T00*3a01*3a00.000Z"
        "$257Estart$257E$25271970-01-01T00*3a00*3a00.000Z"
        "$257EtimeType$257E$2527ABSOLUTE$257Etz$257E$2527UTC"
        "$257EeditorString$257E$2527fields*20*40message"
        "$257Esource$257E$2528$257E$2527*2flongjob*2fx*2ftasks$2529$2529"
    )
