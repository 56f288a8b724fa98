"""LogFollower: Live Tail lines, the final read after a task stops, no line twice, none lost.
StartLiveTail's event stream is given by botocore's Stubber (moto only returns a snapshot)."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.stub import Stubber

from longjob.report.log_follow import LogFollower

GROUP = "/longjob/prod/tasks"
GROUP_ARN = f"arn:aws:logs:eu-west-1:123456789012:log-group:{GROUP}"
A = "toolbox/toolbox/aaaa"
B = "toolbox/toolbox/bbbb"


def live(stream: str, timestamp: int, message: str) -> dict:
    return {
        "logStreamName": stream,
        "logGroupIdentifier": GROUP_ARN,
        "timestamp": timestamp,
        "ingestionTime": timestamp + 5,
        "message": message,
    }


def stored(stream: str, timestamp: int, message: str, event_id: str) -> dict:
    return {
        "logStreamName": stream,
        "timestamp": timestamp,
        "message": message,
        "ingestionTime": timestamp + 5,
        "eventId": event_id,
    }


class EventStream(dict):
    """Stands in for botocore's EventStream: iterable over its events. It is a dict, empty
    while the Stubber checks it against the member's structure shape; events come after."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict] = []

    def __iter__(self):
        return iter(self.events)


@pytest.fixture
def logs():
    client = boto3.client(
        "logs", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber


def test_live_tail_then_final_read_prints_each_line_once(logs) -> None:
    client, stubber = logs
    stubber.add_response(
        "describe_log_groups",
        {"logGroups": [{"logGroupName": GROUP, "arn": GROUP_ARN + ":*"}]},
        {"logGroupNamePrefix": GROUP},
    )
    stream = [
        {"sessionStart": {"sessionId": "s"}},
        {
            "sessionUpdate": {
                "sessionResults": [
                    live(B, 1000, "b: early line, before its task is known"),
                    live(A, 1001, "a: one"),
                    live(A, 1002, "a: same"),
                    live(A, 1002, "a: same"),  # a real repeat: printed twice
                ]
            }
        },
    ]
    events = EventStream()
    stubber.add_response(
        "start_live_tail",
        {"responseStream": events},
        {"logGroupIdentifiers": [GROUP_ARN], "logStreamNamePrefixes": ["toolbox/toolbox/"]},
    )
    events.events = stream
    # After A stops: its whole stream, including a last line Live Tail never delivered.
    stubber.add_response(
        "filter_log_events",
        {
            "events": [
                stored(A, 1001, "a: one", "1"),
                stored(A, 1002, "a: same", "2"),
                stored(A, 1002, "a: same", "3"),
                stored(A, 1003, "a: the last line", "4"),
            ]
        },
        {"logGroupName": GROUP, "logStreamNames": [A]},
    )
    printed: list[tuple[str, str]] = []
    follower = LogFollower(client, GROUP, lambda label, line: printed.append((label, line)))
    assert follower.live
    follower.follow(A, "backup")
    deadline = time.monotonic() + 5
    while len(printed) < 3 and time.monotonic() < deadline:
        follower.poll()
    follower.drain(A)
    follower.follow(B, "vacuum:orders")  # B's early line is printed once B is known
    assert printed == [
        ("backup", "a: one"),
        ("backup", "a: same"),
        ("backup", "a: same"),
        ("backup", "a: the last line"),
        ("vacuum:orders", "b: early line, before its task is known"),
    ]
    follower.close()


def test_without_live_tail_it_polls(logs) -> None:
    client, stubber = logs
    stubber.add_response(
        "describe_log_groups", {"logGroups": [{"logGroupName": GROUP, "arn": GROUP_ARN}]}
    )
    stubber.add_client_error("start_live_tail", "AccessDeniedException", "not allowed")
    stubber.add_response(
        "filter_log_events",
        {"events": [stored(A, 1, "first", "1"), stored(A, 2, "second", "2")]},
    )
    stubber.add_response(
        "filter_log_events",
        {"events": [stored(A, 2, "second", "2"), stored(A, 3, "third", "3")]},
    )
    printed: list[str] = []
    follower = LogFollower(client, GROUP, lambda label, line: printed.append(f"[{label}] {line}"))
    assert not follower.live
    follower.follow(A, "report")
    follower.poll()
    follower.poll()
    assert printed == ["[report] first", "[report] second", "[report] third"]
