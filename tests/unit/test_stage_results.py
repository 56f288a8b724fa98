"""functions/stage_results: a wide stage's summary record from its Map Run's files in S3 (on
moto's S3) and its counts, as the ResultWriter and DescribeMapRun give them."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.unit.conftest import function_module

stage_results = function_module("stage_results")

BUCKET = "runs"
PREFIX = "runs/nightly-1/each/results"
MAP_RUN = "arn:aws:states:us-east-1:1:mapRun:m/items:0f3c"
STAGE = {
    "name": "each",
    "mode": "distributed",
    "results": {"Bucket": BUCKET, "Prefix": PREFIX},
    "reasonChars": 200,
    "itemCount": 10,
    "onFailure": "stop",
}


def child(index: int, status: str, **fields: Any) -> dict[str, Any]:
    return {
        "ExecutionArn": f"arn:aws:states:us-east-1:1:execution:m/items:{index:04d}",
        "Input": json.dumps({"item": f"db-{index}", "index": index}),
        "Name": f"{index:04d}",
        "StartDate": f"2026-12-01T00:00:{index:02d}.000Z",
        "StopDate": f"2026-12-01T00:01:{59 - index:02d}.000Z",  # the last ones stop first
        "Status": status,
        **fields,
    }


def record(index: int, exit_code: int = 1) -> str:
    return json.dumps(
        {
            "index": index,
            "status": "FAILED",
            "exitCode": exit_code,
            "stopCode": "EssentialContainerExited",
            "reason": "Essential container in task exited",
            "attempts": 2,
            "taskId": f"{index:032d}",
        }
    )


class Sfn:
    """DescribeMapRun's counts; DescribeExecution for an entry without a cause."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        self.described: list[str] = []

    def describe_map_run(self, mapRunArn: str) -> dict[str, Any]:
        assert mapRunArn == MAP_RUN
        return {
            "itemCounts": self.counts,
            "startDate": "2026-12-01T00:00:00.000Z",
            "stopDate": "2026-12-01T00:02:00.000Z",
        }

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        self.described.append(executionArn)
        return {"error": "longjob.TaskFailed", "cause": record(int(executionArn[-4:]), 3)}


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def write(s3: Any, files: dict[str, list[dict[str, Any]]]) -> None:
    folder = f"{PREFIX}/0f3c/"
    listed: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status, entries in files.items():
        key = f"{folder}{status}_0.json"
        s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(entries))
        listed[status].append({"Key": key, "Size": 1})
    manifest = {"DestinationBucket": BUCKET, "MapRunArn": MAP_RUN, "ResultFiles": listed}
    s3.put_object(Bucket=BUCKET, Key=folder + "manifest.json", Body=json.dumps(manifest))


def read(s3: Any, sfn: Sfn, map_error: dict[str, Any] | None, room: int = 5) -> dict[str, Any]:
    event = {"stage": STAGE, "mapError": map_error, "room": room}
    return stage_results.read_results(event, s3=s3, sfn=sfn)


THRESHOLD = {"Error": "States.ExceedToleratedFailureThreshold", "Cause": "too many"}


def test_a_failed_stage_names_its_first_failures_from_the_failed_file(s3) -> None:
    failed = [child(i, "FAILED", Error="longjob.TaskFailed", Cause=record(i)) for i in range(3)]
    aborted = [child(9, "ABORTED")]  # stopped by the Map: not run to its end, not a failure
    write(s3, {"FAILED": failed + aborted, "SUCCEEDED": [child(5, "SUCCEEDED")]})
    counts = {"succeeded": 5, "failed": 3, "timedOut": 0, "aborted": 1, "total": 10}
    found = read(s3, Sfn(counts), THRESHOLD, room=2)
    assert (found["status"], found["tasks"], found["succeeded"], found["failed"]) == (
        "FAILED",
        10,
        5,
        3,
    )
    assert found["notRun"] == 2
    assert found["mapRun"] == MAP_RUN
    assert found["startedAt"] < found["stoppedAt"]
    # The first to stop come first; the run keeps only what room it has left.
    assert [f["item"] for f in found["failures"]] == ["db-2", "db-1"]
    first = found["failures"][0]
    assert (first["exitCode"], first["attempts"], first["stopCode"]) == (
        1,
        2,
        "EssentialContainerExited",
    )
    assert first["execution"].endswith("/items:0002")
    assert found["exitCode"] == 1
    assert found["attempts"] == 2


def test_failures_the_stage_tolerates_leave_it_succeeded_with_its_counts(s3) -> None:
    write(s3, {"FAILED": [child(0, "FAILED", Error="e", Cause=record(0))]})
    found = read(s3, Sfn({"succeeded": 9, "failed": 1, "total": 10}), None)
    assert (found["status"], found["exitCode"], found["succeeded"], found["failed"]) == (
        "SUCCEEDED",
        0,
        9,
        1,
    )
    assert [f["item"] for f in found["failures"]] == ["db-0"]


def test_an_entry_without_a_cause_is_explained_by_its_child_execution(s3) -> None:
    write(s3, {"FAILED": [child(4, "FAILED")]})
    sfn = Sfn({"failed": 1, "total": 10})
    (failure,) = read(s3, sfn, THRESHOLD)["failures"]
    assert sfn.described == [child(4, "FAILED")["ExecutionArn"]]
    assert (failure["item"], failure["exitCode"]) == ("db-4", 3)


def test_a_child_that_failed_outside_its_task_keeps_the_child_s_error(s3) -> None:
    cause = "The JSONata expression failed \u00e9" + "x" * 500
    write(s3, {"FAILED": [child(1, "FAILED", Error="States.QueryEvaluationError", Cause=cause)]})
    (failure,) = read(s3, Sfn({"failed": 1, "total": 10}), THRESHOLD)["failures"]
    assert failure["reason"].startswith("States.QueryEvaluationError: The JSONata")
    assert len(failure["reason"]) == 200
    assert failure["reason"].isascii()


def test_a_map_that_failed_before_any_result_says_why(s3) -> None:
    error = {"Error": "States.ItemReaderFailed", "Cause": "Access denied to s3://runs/x.json"}
    found = read(s3, Sfn({}), error)
    assert (found["status"], found["tasks"], found["mapRun"]) == ("FAILED", 10, None)
    (failure,) = found["failures"]
    assert failure["reason"] == "States.ItemReaderFailed: Access denied to s3://runs/x.json"
    assert failure["item"] is None
