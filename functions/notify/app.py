"""notify: sends a run's summary to the SNS topic and, optionally, a chat webhook.

The state machine builds the summary and catches every error of this function: a failed
notification is recorded in the execution, never changes the job's result.
"""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import datetime, timezone
from functools import cache
from typing import Any

import boto3

SUBJECT_LIMIT = 100  # SNS rejects longer subjects
NOTIFY_ON_FAILURE = {"FAILED", "TIMED_OUT", "INVALID"}


class NotificationFailed(Exception):
    """At least one channel could not be reached (the others were still tried)."""


@cache
def sns_client() -> Any:
    return boto3.client("sns")


@cache
def ssm_client() -> Any:
    return boto3.client("ssm")


def should_notify(policy: str, status: str) -> bool:
    if policy == "never":
        return False
    if policy == "failure":
        return status in NOTIFY_ON_FAILURE
    return True


def _duration(stage: dict[str, Any]) -> str:
    start, stop = stage.get("startedAt"), stage.get("stoppedAt")
    if not isinstance(start, int | float) or not isinstance(stop, int | float):
        return "-"
    seconds = max(0, round((stop - start) / 1000))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _exit_code(stage: dict[str, Any]) -> str:
    code = stage.get("exitCode")
    return "-" if code is None else str(code)


def subject(summary: dict[str, Any]) -> str:
    text = f"[longjob] {summary.get('job', '?')} {summary.get('status', '?')}"
    failed = [s for s in summary.get("stages", []) if s.get("status") in {"FAILED", "TIMED_OUT"}]
    if failed:
        first = failed[0]
        text += f": {first['name']} {first['status'].lower().replace('_', ' ')}"
        if first.get("exitCode") not in (None, 0):
            text += f" (exit {first['exitCode']})"
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 1] + "…"


def body(summary: dict[str, Any]) -> str:
    lines = [
        f"Job {summary.get('job', '?')}: {summary.get('status', '?')}",
        f"Execution: {summary.get('execution', '?')}",
    ]
    if summary.get("reason"):
        lines.append(f"Reason: {summary['reason']}")
    stages = summary.get("stages", [])
    if stages:
        rows = [("STAGE", "STATUS", "EXIT", "ATTEMPTS", "TASKS", "DURATION")]
        for stage in stages:
            tasks = stage.get("tasks")
            done = f"{stage.get('succeeded', 0)}/{tasks}" if tasks else "-"
            rows.append(
                (
                    stage["name"],
                    stage.get("status", "?"),
                    _exit_code(stage),
                    str(stage.get("attempts", "-")),
                    done,
                    _duration(stage),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines.append("")
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    log_group = summary.get("logGroup")
    for stage in stages:
        for failure in stage.get("failures", []):
            where = f"{stage['name']}" + (f" [{failure['item']}]" if failure.get("item") else "")
            detail = failure.get("reason") or failure.get("error") or ""
            lines.append("")
            lines.append(f"{where}: {failure.get('status')} exit {failure.get('exitCode', '-')}")
            if detail:
                lines.append(f"  {detail[:500]}")
            if failure.get("taskId") and log_group:
                lines.append(f"  logs: {log_group} toolbox/toolbox/{failure['taskId']}")
    if summary.get("cause"):
        lines += ["", str(summary["cause"])[:4000]]
    return "\n".join(lines) + "\n"


def webhook_url(parameter_name: str, ssm: Any) -> str:
    """The webhook URL is a secret: an SSM SecureString, read when needed, never logged."""
    response = ssm.get_parameter(Name=parameter_name, WithDecryption=True)
    return response["Parameter"]["Value"]


def post_webhook(url: str, text: str) -> None:
    # {"text": ...} is understood by Slack, Microsoft Teams and Mattermost incoming webhooks.
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own webhook
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()


def notify(
    summary: dict[str, Any],
    topic_arn: str,
    webhook_parameter: str,
    sns: Any,
    ssm: Any,
) -> dict[str, Any]:
    """Publishes the summary per its notify policy; returns what was sent."""
    status = summary.get("status", "UNKNOWN")
    if not should_notify(summary.get("notify", "always"), status):
        return {"sent": [], "skipped": f"notify policy {summary.get('notify')!r}"}
    text = body(summary)
    sent, errors = [], []
    try:
        sns.publish(
            TopicArn=topic_arn,
            Subject=subject(summary),
            Message=text,
            MessageAttributes={
                "job": {"DataType": "String", "StringValue": str(summary.get("job", "?"))},
                "status": {"DataType": "String", "StringValue": status},
                "execution": {
                    "DataType": "String",
                    "StringValue": str(summary.get("execution", "?")),
                },
            },
        )
        sent.append("sns")
    except Exception as error:  # noqa: BLE001 - try every channel, then report all failures
        errors.append(f"sns: {type(error).__name__}: {error}")
    if webhook_parameter:
        try:
            post_webhook(webhook_url(webhook_parameter, ssm), f"{subject(summary)}\n{text}")
            sent.append("webhook")
        except Exception as error:  # noqa: BLE001
            errors.append(f"webhook: {type(error).__name__}")  # never the URL: it is a secret
    if errors:
        raise NotificationFailed("; ".join(errors))
    return {"sent": sent, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return notify(
        event,
        topic_arn=os.environ["TOPIC_ARN"],
        webhook_parameter=os.environ.get("WEBHOOK_URL_PARAMETER", ""),
        sns=sns_client(),
        ssm=ssm_client(),
    )
