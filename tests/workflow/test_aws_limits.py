"""The job state machine against AWS's limits, on the local engine: the quota guard's
history estimate against real executions, payloads that stay bounded whatever fails, the
notification SNS would accept, and ECS errors retried as AWS raises them."""

from __future__ import annotations

import json
from typing import Any

from longjob_core import quotas
from longjob_core.limits import PAYLOAD_BYTES, SNS_SUBJECT_CHARS
from longjob_core.planning import REASON_CHARS_MAX

from longjob.engine.local_engine import LocalEngine

from .conftest import stage


def full_history(engine: LocalEngine, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in engine.sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events += page["events"]
    return events


def test_history_estimate_is_the_executions_own_count_when_everything_fails(run_job) -> None:
    """Every task fails every attempt: the execution's history has exactly the events the
    guard counts, less the in-place retries that did not happen and the Succeed state's two
    events (a failed run ends in a Fail state, one event)."""
    document = {
        "job": "all-fail",
        "stages": [
            stage("one", "exit.sh", env={"EXIT_CODE": "3"}, retries=1, onFailure="continue"),
            stage(
                "each",
                "exit.sh",
                "{item}",
                env={"EXIT_CODE": "4"},
                forEach=["a", "b", "c"],
                maxConcurrency=3,
                retries=1,
            ),
        ],
    }
    result, summary = run_job(document)
    assert summary["status"] == "FAILED"
    (estimate,) = [e for e in quotas.estimates(document) if e.what == "execution history"]
    assert len(result.history) == estimate.value - quotas.EVENTS_IN_PLACE_RETRIES - 1


def test_a_run_that_succeeds_stays_under_its_estimate(run_job) -> None:
    document = {"job": "fine", "stages": [stage("a", "exit.sh", retries=3)]}
    result, _summary = run_job(document)
    (estimate,) = [e for e in quotas.estimates(document) if e.what == "execution history"]
    assert result.status == "SUCCEEDED"
    assert len(result.history) < estimate.value


def test_prepare_job_receives_the_document_once(engine: LocalEngine, application) -> None:
    """A 150 KB document: passing the whole context object as well would double it past
    Step Functions' 256 KiB payload limit (States.DataLimitExceeded, uncatchable)."""
    stages = [
        stage(
            f"s{i:02d}", "exit.sh", env={"PAYLOAD": f"{i:02d}" + "x" * 7000}, onFailure="continue"
        )
        for i in range(22)
    ]
    document = {"job": "big", "stages": stages}
    size = len(json.dumps(document, separators=(",", ":")))
    assert 150_000 < size < PAYLOAD_BYTES
    arn = engine.start(application.definition, document, application.substitutions)
    result = engine.wait(arn)
    assert result.status == "SUCCEEDED", result.cause
    (scheduled,) = [
        e["taskScheduledEventDetails"]["parameters"]
        for e in full_history(engine, arn)
        if e["type"] == "TaskScheduled"
        and e["taskScheduledEventDetails"]["resourceType"] == "lambda"
        and "document" in e["taskScheduledEventDetails"]["parameters"]
    ]
    assert size < len(scheduled.encode()) < size + 2_000
    assert set(json.loads(scheduled)["Payload"]["execution"]) == {"Id", "Name", "StartTime"}


def test_a_wide_failure_keeps_the_first_failures_and_counts_the_rest(
    engine: LocalEngine, run_job
) -> None:
    """Twelve tasks cannot pull their image (a long ECS reason); the summary names the first
    five (item, reason cut short, printable), counts all twelve, and a later failing stage is
    counted without details: the run's summary stays bounded whatever the fan-out."""
    items = [f"item-{n:02d}" for n in range(12)]
    engine.inject_ecs_faults("cannot-pull", len(items))
    result, summary = run_job(
        {
            "job": "wide",
            "stages": [
                stage("fan", "exit.sh", "{item}", forEach=items, maxConcurrency=4),
                stage("report", "exit.sh", env={"EXIT_CODE": "2"}, always=True),
            ],
        }
    )
    assert result.error == "JobFailed"
    fan, report = summary["stages"]
    assert (fan["tasks"], fan["succeeded"], fan["status"]) == (12, 0, "FAILED")
    assert sorted(f["item"] for f in fan["failures"]) == sorted(items)[: len(fan["failures"])]
    assert len(fan["failures"]) == 5
    for failure in fan["failures"]:
        assert failure["reason"].startswith("CannotPullContainerError: pull image")
        assert failure["exitCode"] is None
        assert len(failure["reason"]) == REASON_CHARS_MAX  # ECS's reason is longer
        assert failure["reason"].isascii()
    assert (report["status"], report["exitCode"], report["failures"]) == ("FAILED", 2, [])
    assert json.loads(result.cause) == summary


def test_long_names_still_reach_sns(run_job) -> None:
    """SNS refuses a subject of 100 characters or more: the notification would be lost."""
    result, summary = run_job(
        {"job": "j" * 64, "stages": [stage("s" * 64, "exit.sh", env={"EXIT_CODE": "1"})]}
    )
    assert summary["notification"] == "sent"
    (note,) = result.notifications
    assert len(note.subject) <= SNS_SUBJECT_CHARS


def test_a_throttled_security_group_lookup_is_retried_in_place(
    engine: LocalEngine, run_job, tmp_path
) -> None:
    ledger = tmp_path / "ledger"
    engine.inject_ecs_faults("invalid-parameter", 2)
    result, summary = run_job(
        {"job": "sg", "stages": [stage("only", "count.sh", env={"LEDGER": str(ledger)})]}
    )
    assert result.status == "SUCCEEDED", result.cause
    assert summary["stages"][0]["attempts"] == 1
    assert [e["error"] for e in result.history if e["type"] == "TaskFailed"] == [
        "ECS.InvalidParameterException"
    ] * 2
    assert ledger.read_text().split() == ["only:"]


def test_an_invalid_document_with_a_line_break_in_its_name_is_still_notified(run_job) -> None:
    """The INVALID alert uses the document's own (invalid) job name in its subject: a line
    break there would make SNS refuse the message."""
    result, _summary = run_job({"job": "nightly\nbackup", "stages": []})
    assert result.error == "InvalidJobDocument"
    (note,) = result.notifications
    assert note.subject.startswith("[longjob] nightly backup INVALID")
