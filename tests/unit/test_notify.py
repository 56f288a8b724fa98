"""functions/notify: the summary as a message, the notify policy, SNS and the webhook."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import boto3
import pytest
from moto import mock_aws

from tests.unit.conftest import event, function_module

notify = function_module("notify")


def test_subject_names_the_failed_stage_and_fits_sns() -> None:
    summary = event("notify_failed")
    assert notify.subject(summary) == "[longjob] nightly-maintenance FAILED: backup failed (exit 2)"
    long = {**summary, "job": "j" * 64, "stages": [{**summary["stages"][0], "name": "s" * 64}]}
    # SNS: "less than 100 characters", one line, no control characters.
    assert len(notify.subject(long)) == 99
    assert notify.subject(long).endswith("…")
    broken = {**summary, "job": "two\nlines\x07"}
    assert notify.subject(broken).startswith("[longjob] two lines  FAILED")


def test_body_has_the_stage_table_the_failure_and_where_the_logs_are() -> None:
    text = notify.body(event("notify_failed"))
    assert "Job nightly-maintenance: FAILED" in text
    assert "STAGE   STATUS     EXIT  ATTEMPTS  TASKS  DURATION" in text
    assert "backup  FAILED     2     3         0/1    12m03s" in text
    assert "vacuum  SKIPPED    -     -         -      -" in text
    assert "report  SUCCEEDED  0     1         1/1    4s" in text
    assert "backup: FAILED, exit code 2, 3 attempt(s)" in text
    assert (
        "logs: /longjob/longjob-prod/tasks, stream toolbox/toolbox/0f3c9d2e8a7b4c5d9e1f2a3b4c5d6e7f"
        in text
    )


@pytest.mark.parametrize(
    ("policy", "status", "sent"),
    [
        ("always", "SUCCEEDED", True),
        ("always", "SKIPPED", True),
        ("failure", "SUCCEEDED", False),
        ("failure", "FAILED", True),
        ("failure", "TIMED_OUT", True),
        ("failure", "INVALID", True),
        ("never", "FAILED", False),
    ],
)
def test_notify_policy(policy: str, status: str, sent: bool) -> None:
    assert notify.should_notify(policy, status) is sent


@pytest.fixture
def aws() -> Iterator[dict]:
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="longjob")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        yield {
            "sns": sns,
            "ssm": boto3.client("ssm", region_name="us-east-1"),
            "sqs": sqs,
            "queue": queue,
            "topic": topic,
        }


def received(aws: dict) -> list[dict]:
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_publishes_to_the_topic(aws: dict) -> None:
    result = notify.notify(event("notify_failed"), aws["topic"], "", aws["sns"], aws["ssm"])
    assert result["sent"] == ["sns"]
    (message,) = received(aws)
    assert message["Subject"] == "[longjob] nightly-maintenance FAILED: backup failed (exit 2)"
    assert "backup: FAILED, exit code 2" in message["Message"]
    assert message["MessageAttributes"]["status"]["Value"] == "FAILED"


def test_policy_failure_sends_nothing_for_a_success(aws: dict) -> None:
    result = notify.notify(event("notify_succeeded"), aws["topic"], "", aws["sns"], aws["ssm"])
    assert result["sent"] == []
    assert received(aws) == []


class Hook(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict]] = []
    requests: ClassVar[list[str]] = []
    status = 200
    location = ""
    trickle = False

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Hook.requests.append(f"POST {self.path}")
        Hook.bodies.append(json.loads(self.rfile.read(length)))
        if Hook.trickle:  # one byte every half second: never a whole answer in time
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for _ in range(20):
                self.wfile.write(b"X")
                self.wfile.flush()
                time.sleep(0.5)
            return
        self.send_response(Hook.status)
        if Hook.location:
            self.send_header("Location", Hook.location)
        self.end_headers()

    def do_GET(self) -> None:
        Hook.requests.append(f"GET {self.path}")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Hook.bodies.clear()
    Hook.requests.clear()
    Hook.status, Hook.location, Hook.trickle = 200, "", False
    yield f"http://127.0.0.1:{server.server_port}/hooks/secret-token"
    server.shutdown()


LOCAL = notify.WebhookPolicy(deadline_seconds=2, allow_local_http=True)


def send(aws: dict, url: str, summary: dict | None = None) -> dict:
    aws["ssm"].put_parameter(
        Name="/longjob/webhook", Value=url, Type="SecureString", Overwrite=True
    )
    return notify.notify(
        summary or event("notify_failed"),
        aws["topic"],
        "/longjob/webhook",
        aws["sns"],
        aws["ssm"],
        LOCAL,
    )


def test_webhook_url_is_read_from_ssm_and_posted_to(aws: dict, webhook: str) -> None:
    assert send(aws, webhook)["sent"] == ["sns", "webhook"]
    (posted,) = Hook.bodies
    assert posted["text"].startswith("[longjob] nightly-maintenance FAILED")
    assert Hook.requests == ["POST /hooks/secret-token"]


def failure(aws: dict, url: str) -> str:
    with pytest.raises(notify.NotificationFailed) as raised:
        send(aws, url)
    message = str(raised.value)
    assert "secret-token" not in message  # the URL is a secret
    assert len(received(aws)) == 1  # SNS still went
    return message


def test_a_failing_webhook_is_reported_without_its_url_and_sns_still_goes(
    aws: dict, webhook: str
) -> None:
    Hook.status = 500
    assert failure(aws, webhook) == "webhook: HTTP 500"


def test_a_redirect_is_a_failure_and_is_not_followed(aws: dict, webhook: str) -> None:
    Hook.status, Hook.location = 302, webhook.replace("/hooks/", "/elsewhere/")
    assert failure(aws, webhook) == "webhook: HTTP 302"
    assert Hook.requests == ["POST /hooks/secret-token"]


def test_a_server_too_slow_to_answer_fails_at_the_deadline(aws: dict, webhook: str) -> None:
    Hook.trickle = True
    started = time.monotonic()
    assert failure(aws, webhook) == "webhook: no answer within 2 s"
    assert time.monotonic() - started < 4


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.com/x", "file:///etc/passwd", "ftp://hooks.example.com/secret-token"],
)
def test_only_https_urls_are_called(aws: dict, url: str) -> None:
    assert failure(aws, url) == "webhook: the webhook URL must start with https://"


def test_plain_http_to_this_machine_needs_the_explicit_switch(aws: dict, webhook: str) -> None:
    aws["ssm"].put_parameter(Name="/longjob/webhook", Value=webhook, Type="SecureString")
    with pytest.raises(notify.NotificationFailed, match="must start with https://"):
        notify.notify(
            event("notify_failed"), aws["topic"], "/longjob/webhook", aws["sns"], aws["ssm"]
        )
    assert Hook.requests == []


def test_chat_markup_and_control_characters_are_neutralised(aws: dict, webhook: str) -> None:
    summary = event("notify_failed")
    summary["stages"][0]["failures"][0]["item"] = "<!channel> <https://evil.example|click> @all"
    summary["stages"][0]["failures"][0]["reason"] = "line one\nFAKE: all good\x1b[2J```"
    send(aws, webhook, summary)
    (posted,) = Hook.bodies
    text = posted["text"]
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &lt;https://evil.example|click&gt;" in text
    assert "\x1b" not in text
    assert "\nFAKE: all good" not in text
    _subject, fence, rest = text.split("\n", 2)
    assert fence == "```"
    assert rest.endswith("```")
    assert rest.count("```") == 1  # the block cannot be closed early


def test_skipped_runs_are_sent_under_the_failure_policy(aws: dict) -> None:
    summary = {**event("notify_succeeded"), "status": "SKIPPED", "notify": "failure"}
    summary["reason"] = "another run of this job is in progress: arn:...:nightly-1"
    assert notify.notify(summary, aws["topic"], "", aws["sns"], aws["ssm"])["sent"] == ["sns"]
    (message,) = received(aws)
    assert "another run of this job is in progress" in message["Message"]


def test_a_skipped_run_is_counted_in_a_metric(
    aws: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOPIC_ARN", aws["topic"])
    monkeypatch.setenv("STACK_NAME", "longjob-prod")
    monkeypatch.setattr(notify, "sns_client", lambda: aws["sns"])
    monkeypatch.setattr(notify, "ssm_client", lambda: aws["ssm"])
    summary = {**event("notify_succeeded"), "status": "SKIPPED", "notify": "never"}
    notify.lambda_handler(summary, None)
    (line,) = capsys.readouterr().out.splitlines()
    metric = json.loads(line)
    (directive,) = metric["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "longjob"
    assert directive["Metrics"] == [{"Name": "RunsSkipped", "Unit": "Count"}]
    assert (metric["Stack"], metric["RunsSkipped"]) == ("longjob-prod", 1)


def test_handler_uses_its_environment(aws: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOPIC_ARN", aws["topic"])
    monkeypatch.setenv("WEBHOOK_URL_PARAMETER", "")
    monkeypatch.setattr(notify, "sns_client", lambda: aws["sns"])
    monkeypatch.setattr(notify, "ssm_client", lambda: aws["ssm"])
    # Lambda sets both for every function.
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert notify.lambda_handler(event("notify_failed"), None)["sent"] == ["sns"]
    (message,) = received(aws)
    assert "(the task wrote no log line)" in message["Message"]  # no stream: said, not fatal


def test_handler_adds_the_failed_tasks_last_log_lines(
    aws: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lines come from the task's stream, after it stopped; then the links."""
    logs = boto3.client("logs", region_name="us-east-1")
    group, task = "/longjob/longjob-prod/tasks", "0f3c9d2e8a7b4c5d9e1f2a3b4c5d6e7f"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=f"toolbox/toolbox/{task}")
    lines = ['{"longjob":"start","stage":"backup"}']
    lines += [f"dumping table {n}" for n in range(1, 15)]
    lines += ["pg_dump: error: connection to server failed", '{"longjob":"end","exitCode":2}']
    logs.put_log_events(
        logGroupName=group,
        logStreamName=f"toolbox/toolbox/{task}",
        logEvents=[{"timestamp": 1796008000000 + n, "message": m} for n, m in enumerate(lines)],
    )
    monkeypatch.setenv("TOPIC_ARN", aws["topic"])
    monkeypatch.setenv("WEBHOOK_URL_PARAMETER", "")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setattr(notify, "sns_client", lambda: aws["sns"])
    monkeypatch.setattr(notify, "ssm_client", lambda: aws["ssm"])
    monkeypatch.setattr(notify, "logs_client", lambda: logs)
    notify.lambda_handler({**event("notify_failed"), "logLines": 3}, None)
    (message,) = received(aws)
    text = message["Message"]
    assert "  the script exited with code 2" in text
    assert text.index("STAGE ") < text.index("  last 3 log line(s):")
    assert (
        "  | dumping table 13\n  | dumping table 14\n"
        "  | pg_dump: error: connection to server failed\n"
    ) in text
    assert f"log-events/toolbox$252Ftoolbox$252F{task}" in text
    assert "Logs Insights, the run's time: https://us-east-1.console.aws.amazon.com/" in text


def with_lines(summary: dict, lines: list[str], failures: int = 1) -> dict:
    """The summary with ``failures`` copies of its first stage, each failure with ``lines``."""
    stage = summary["stages"][0]
    failure = {**stage["failures"][0], "logLines": lines}
    return {**summary, "stages": [{**stage, "failures": [failure]}] * failures}


def test_the_webhook_text_keeps_fewer_log_lines_to_fit_a_chat_message() -> None:
    summary = event("notify_failed")
    lines = [f"line {n} " + "<x>" * 120 for n in range(50)]  # escaped: 4-5 bytes a character
    text = notify.webhook_text(with_lines(summary, lines, failures=5))
    assert len(text.encode()) <= notify.WEBHOOK_BYTES
    assert "line 49 " in text  # the last lines are the ones kept
    assert "line 10 " not in text
    assert "line 1 x" in notify.webhook_text(with_lines(summary, ["line 1 x"]))
