"""notify: sends a run's summary to the SNS topic and, optionally, a chat webhook.

The state machine builds the summary and catches every error of this function: a failed
notification is recorded in the execution, never changes the job's result. A skipped run
is also counted in a CloudWatch metric (an alarm watches it), so no run is dropped quietly.
Each failed task is explained, with its last log lines (read from its stream: the
function's role may read the task log group's streams, nothing else) and links
(longjob_core.failure_reports).

It also sends an approval stage's request (an event with ``approval``): it stores the task
token in the lock table first (longjob_core.approvals), and a request that cannot be sent
fails the stage, so that no run waits for an answer nobody was asked for.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from longjob_core.approvals import Request, new_item, request_body, request_subject
from longjob_core.contract import (
    FAILED,
    INVALID,
    REJECTED,
    RESUMED_FOLDER,
    SKIPPED,
    TIMED_OUT,
    WAITING,
)
from longjob_core.cost import PriceError, function_usage, parse_overrides, prices_for, run_cost
from longjob_core.failure_reports import cloudwatch_reader, with_failure_details
from longjob_core.summary import body, subject

# The "failure" policy sends what needs a person: runs that failed, timed out, were
# invalid or rejected, or were skipped because another run of the job was still going.
NOTIFY_ON_FAILURE = {FAILED, TIMED_OUT, INVALID, SKIPPED, REJECTED}
METRIC_NAMESPACE = "longjob"
WEBHOOK_BYTES = 24_000  # under Teams' ~28 KB and Slack's 40,000 characters, with room
SKIPPED_METRIC = "RunsSkipped"
# Resume notes read at most (10 pages of ListObjectsV2): the notification must go within the
# function's timeout, whatever a wide stage did. Past it the counts are a lower bound.
RESUMED_NOTES_READ = 10_000


class NotificationFailed(Exception):
    """At least one channel could not be reached (the others were still tried)."""


class WebhookFailed(Exception):
    """The webhook did not take the message (the message never names the URL)."""


@dataclass(frozen=True)
class WebhookPolicy:
    """How the webhook is called: https only, no redirect followed, one total deadline.
    ``allow_local_http`` lets tests use a plain-HTTP server on 127.0.0.1; the handler
    never sets it."""

    deadline_seconds: float = 10.0
    allow_local_http: bool = False


@cache
def sns_client() -> Any:
    return boto3.client("sns")


@cache
def s3_client() -> Any:
    return boto3.client("s3")


@cache
def dynamodb_client() -> Any:
    return boto3.client("dynamodb")


@cache
def ssm_client() -> Any:
    return boto3.client("ssm")


@cache
def logs_client() -> Any:
    return boto3.client("logs")


def explained(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary with its failures explained and their last log lines."""
    log_group = summary.get("logGroup")
    reader = cloudwatch_reader(logs_client(), log_group) if log_group else None
    return with_failure_details(summary, reader, os.environ.get("AWS_REGION"))


def should_notify(policy: str, status: str) -> bool:
    if policy == "never":
        return False
    if policy == "failure":
        return status in NOTIFY_ON_FAILURE
    return True


def webhook_url(parameter_name: str, ssm: Any) -> str:
    """The webhook URL is a secret: an SSM SecureString, read when needed, never logged."""
    response = ssm.get_parameter(Name=parameter_name, WithDecryption=True)
    return response["Parameter"]["Value"]


def escaped_block(title: str, text: str) -> str:
    """A title, then a text as a code block (see webhook_text)."""

    def escape(text: str) -> str:
        # Slack requires &, < and > escaped; Mattermost and Teams show the entities too.
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    fence = "`" * 3
    block = escape(text).replace(fence, "'" * 3)  # the block cannot be closed early
    return f"{escape(title)}\n{fence}\n{block}{fence}"


def webhook_text(summary: dict[str, Any]) -> str:
    """The subject, then the body as a code block: chat mark-up that an item, a reason or a
    field name carries (links, mentions, <!channel>) is shown, never acted on. Chat services
    take less than SNS (Slack cuts a message's text at 40,000 characters, Teams refuses one
    over about 28 KB): over WEBHOOK_BYTES, each failure keeps fewer log lines, down to none."""

    def render(summary: dict[str, Any]) -> str:
        return escaped_block(subject(summary), body(summary))

    text = render(summary)
    for keep in (5, 2, 0):
        if len(text.encode()) <= WEBHOOK_BYTES:
            break
        text = render(with_log_lines_cut(summary, keep))
    return text


def with_log_lines_cut(summary: dict[str, Any], keep: int) -> dict[str, Any]:
    """The summary with each failure's last ``keep`` log lines only."""
    stages = []
    for stage in summary.get("stages") or []:
        failures = [
            {**f, "logLines": (f.get("logLines") or [])[-keep:] if keep else []}
            for f in stage.get("failures") or []
        ]
        stages.append({**stage, "failures": failures} if failures else stage)
    return {**summary, "stages": stages}


def post_webhook(url: str, text: str, policy: WebhookPolicy | None = None) -> None:
    """POSTs {"text": ...}, which Slack, Microsoft Teams and Mattermost incoming webhooks
    understand. Anything but a 2xx answer within the deadline is a failure; http.client
    follows no redirect, so a 3xx is a failure too."""
    policy = policy or WebhookPolicy()
    parts = urllib.parse.urlsplit(url)
    local = policy.allow_local_http and parts.scheme == "http" and parts.hostname == "127.0.0.1"
    if parts.scheme != "https" and not local:
        raise WebhookFailed("the webhook URL must start with https://")
    if not parts.hostname:
        raise WebhookFailed("the webhook URL has no host")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            connection: http.client.HTTPConnection
            if local:
                connection = http.client.HTTPConnection(
                    parts.hostname, parts.port, timeout=policy.deadline_seconds
                )
            else:
                connection = http.client.HTTPSConnection(
                    parts.hostname,
                    parts.port,
                    timeout=policy.deadline_seconds,
                    context=ssl.create_default_context(),
                )
            connection.request(
                "POST",
                target,
                body=json.dumps({"text": text}).encode(),
                headers={"Content-Type": "application/json"},
            )
            response = connection.getresponse()
            response.read()
            outcome["status"] = response.status
            connection.close()
        except Exception as error:  # noqa: BLE001 - reported by name only: the URL is secret
            outcome["error"] = type(error).__name__

    # The socket timeout bounds each read; the thread's deadline bounds the whole call,
    # so a server that answers a byte at a time cannot hold the function.
    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(policy.deadline_seconds)
    if worker.is_alive():
        raise WebhookFailed(f"no answer within {policy.deadline_seconds:g} s")
    if "error" in outcome:
        raise WebhookFailed(outcome["error"])
    if not 200 <= outcome["status"] < 300:
        raise WebhookFailed(f"HTTP {outcome['status']}")


def skipped_metric(summary: dict[str, Any], stack: str) -> str:
    """A CloudWatch embedded-metric-format line: printed to the function's log, it becomes
    the RunsSkipped metric (no PutMetricData permission needed)."""
    return json.dumps(
        {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": METRIC_NAMESPACE,
                        "Dimensions": [["Stack"]],
                        "Metrics": [{"Name": SKIPPED_METRIC, "Unit": "Count"}],
                    }
                ],
            },
            "Stack": stack,
            SKIPPED_METRIC: 1,
            "job": summary.get("job"),
            "execution": summary.get("execution"),
        }
    )


def notify(
    summary: dict[str, Any],
    topic_arn: str,
    webhook_parameter: str,
    sns: Any,
    ssm: Any,
    webhook: WebhookPolicy | None = None,
    details: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Publishes the summary per its notify policy; returns what was sent. ``details``
    adds to a summary that is sent what the workflow could not carry (failure_reports)."""
    status = summary.get("status", "UNKNOWN")
    if not should_notify(summary.get("notify", "always"), status):
        return {"sent": [], "skipped": f"notify policy {summary.get('notify')!r}"}
    if details is not None:
        summary = details(summary)
    return publish(
        Message(subject(summary), body(summary), webhook_text(summary), summary, status),
        topic_arn,
        webhook_parameter,
        sns,
        ssm,
        webhook,
    )


@dataclass(frozen=True)
class Message:
    """One message for every channel: SNS gets the subject and text, the webhook its own
    rendering; the attributes let subscribers filter by job, status and execution."""

    subject: str
    text: str
    webhook_text: str
    summary: dict[str, Any]
    status: str


def publish(
    message: Message,
    topic_arn: str,
    webhook_parameter: str,
    sns: Any,
    ssm: Any,
    webhook: WebhookPolicy | None = None,
) -> dict[str, Any]:
    """Sends ``message`` to the topic and, when one is set, the webhook; raises
    NotificationFailed naming every channel that failed (the others were still tried)."""
    summary = message.summary
    sent, errors = [], []
    try:
        sns.publish(
            TopicArn=topic_arn,
            Subject=message.subject,
            Message=message.text,
            MessageAttributes={
                "job": {"DataType": "String", "StringValue": str(summary.get("job", "?"))},
                "status": {"DataType": "String", "StringValue": message.status},
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
            post_webhook(webhook_url(webhook_parameter, ssm), message.webhook_text, webhook)
            sent.append("webhook")
        except WebhookFailed as error:
            errors.append(f"webhook: {error}")  # never the URL: it is a secret
        except Exception as error:  # noqa: BLE001
            errors.append(f"webhook: {type(error).__name__}")
    if errors:
        raise NotificationFailed("; ".join(errors))
    return {"sent": sent, "at": datetime.now(UTC).isoformat(timespec="seconds")}


def with_cost(summary: dict[str, Any], started: float) -> dict[str, Any]:
    """The summary (without the run's ``usage``, which the workflow passes beside it) with
    the run's cost (longjob_core.cost), this invocation's time included; without a cost
    when the stack's PriceOverrides cannot be used (the reason is logged)."""
    summary = dict(summary)
    usage = summary.pop("usage", None)
    try:
        prices = prices_for(
            os.environ.get("AWS_REGION", "us-east-1"),
            parse_overrides(os.environ.get("PRICE_OVERRIDES")),
        )
        cost = run_cost(summary, prices, usage, (function_usage("notify", started),))
    except PriceError as error:
        print(f"no cost estimate: {error}")
        return summary
    except Exception as error:  # noqa: BLE001 - an estimate must never stop the notification
        print(f"no cost estimate: {type(error).__name__}: {error}")
        return summary
    return {**summary, "cost": cost}


def resumed_counts(summary: dict[str, Any], s3: Any, bucket: str) -> list[int] | None:
    """Per stage (the summary's order), how many attempts resumed from a checkpoint: the
    notes the checkpoint helper leaves under runs/<execution>/_resumed/<stage>/. None when
    none did, or when they cannot be listed (the notification goes on)."""
    execution = summary.get("execution")
    if not bucket or not isinstance(execution, str):
        return None
    prefix = f"runs/{execution}/{RESUMED_FOLDER}/"
    counts: dict[str, int] = {}
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, PaginationConfig={"MaxItems": RESUMED_NOTES_READ}
    )
    try:
        for page in pages:
            for item in page.get("Contents", []):
                stage = item["Key"][len(prefix) :].split("/", 1)[0]
                counts[stage] = counts.get(stage, 0) + 1
    except Exception as error:  # noqa: BLE001 - a count must never stop the notification
        print(f"resumed attempts not counted: {type(error).__name__}: {error}")
        return None
    if not counts:
        return None
    return [counts.get(stage.get("name"), 0) for stage in summary.get("stages") or []]


def request_approval(
    event: dict[str, Any],
    table: str,
    dynamodb: Any,
    send: Callable[[Message], dict[str, Any]],
    stack: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """An approval stage's request: the token stored (with a fresh answer key) where only
    the stack's roles and its operators read, then the request sent on every channel,
    whatever the job's notify policy (nobody could answer otherwise). The token is never
    logged, returned or sent."""
    now = now or datetime.now(UTC)
    request = Request.of(event["approval"])
    dynamodb.put_item(
        TableName=table, Item=new_item(request, event["approval"]["token"], now.timestamp())
    )
    summary = event.get("summary") or {}
    subject_text = request_subject(summary, request)
    text = request_body(summary, request, now, stack)
    sent = send(Message(subject_text, text, escaped_block(subject_text, text), summary, WAITING))
    return {"requested": request.stage, **sent}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "approval" in event:  # an approval stage (Ask approval, .waitForTaskToken)
        return request_approval(
            event,
            os.environ["LOCK_TABLE"],
            dynamodb_client(),
            lambda message: publish(
                message,
                os.environ["TOPIC_ARN"],
                os.environ.get("WEBHOOK_URL_PARAMETER", ""),
                sns_client(),
                ssm_client(),
            ),
            os.environ.get("STACK_NAME") or None,
        )
    started = time.monotonic()
    if event.get("status") == SKIPPED:
        print(skipped_metric(event, os.environ.get("STACK_NAME", "")))  # EMF: a metric from a log
    event = with_cost(event, started)
    resumed = resumed_counts(event, s3_client(), os.environ.get("RUN_BUCKET", ""))
    if resumed is not None:
        event["resumed"] = resumed
    # The cost and the resumed attempts go back to the workflow, which adds them to the
    # summary (the run's output).
    return {"cost": event.get("cost"), "resumed": resumed} | notify(
        event,
        topic_arn=os.environ["TOPIC_ARN"],
        webhook_parameter=os.environ.get("WEBHOOK_URL_PARAMETER", ""),
        sns=sns_client(),
        ssm=ssm_client(),
        details=explained,
    )
