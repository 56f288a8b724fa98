"""notify: sends a run's summary to the SNS topic and, optionally, a chat webhook.

The state machine builds the summary and catches every error of this function: a failed
notification is recorded in the execution, never changes the job's result.
"""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from longjob_core.summary import body, subject

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
    return {"sent": sent, "at": datetime.now(UTC).isoformat(timespec="seconds")}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return notify(
        event,
        topic_arn=os.environ["TOPIC_ARN"],
        webhook_parameter=os.environ.get("WEBHOOK_URL_PARAMETER", ""),
        sns=sns_client(),
        ssm=ssm_client(),
    )
