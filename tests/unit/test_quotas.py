"""The quota guard: documents whose worst case would break a Step Functions or SNS quota
are refused before anything runs, with the figure and the limit; the workflow's own
records stay within the sizes the guard assumes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonata import Jsonata
from longjob_core import limits, quotas
from longjob_core.exceptions import InvalidJobDocument
from longjob_core.planning import (
    INLINE_ITEMS_MAX,
    REASON_CHARS_MAX,
    compact_size,
    item_record,
    make_plan,
    reason_chars,
)
from longjob_core.problems import Problem
from longjob_core.summary import FAILURES_KEPT, ITEM_CHARS
from longjob_core.validation import check

from tests.conftest import ROOT

ASL = json.loads((ROOT / "statemachine/job.asl.json").read_text())
STATES = ASL["States"]


def fan_out(items: int, retries: int = 0, stages: int = 1) -> dict[str, Any]:
    return {
        "job": "wide",
        "stages": [
            {
                "name": f"vacuum-{s}",
                "run": ["bash", "pg_vacuum.sh", "--database", "{item}"],
                "forEach": [f"db{i:04d}" for i in range(items)],
                "maxConcurrency": 40,
                "retries": retries,
                "onFailure": "continue",
            }
            for s in range(stages)
        ],
    }


def estimate(document: dict[str, Any], what: str) -> quotas.Estimate:
    (found,) = [e for e in quotas.estimates(document) if e.what == what]
    return found


def test_examples_fit_every_quota() -> None:
    for path in (ROOT / "jobs/examples").glob("*.json"):
        for found in quotas.estimates(json.loads(path.read_text())):
            assert found.fits, (path.name, found)


def test_inline_stages_fit_until_their_events_pass_the_budget() -> None:
    """Inline stages (at most 40 items) write every task's events into the run's history:
    eleven full ones with four retries fit, twelve would end the run at its 25,000th event,
    before Notify (no summary, no notification)."""
    assert check(fan_out(40, retries=4, stages=11)) == []
    assert estimate(fan_out(40, retries=4, stages=11), "execution history").value == 23_006
    assert check(fan_out(40, retries=4, stages=12)) == [
        Problem(
            "/stages/0/forEach",
            "12 stages, the largest 40 task(s) \u00d7 5 attempt(s) \u2248 25,092 events, over the "
            "24,000 longjob allows (Step Functions fails an execution at 25,000 history events; "
            "1,000 are kept for in-place retries): a run could fail half-way without a summary",
        )
    ]


def test_a_wide_stage_s_tasks_count_in_their_own_children() -> None:
    """Over 40 items a stage is a Distributed Map: each item's events are in its child
    execution, so 10,000 items with ten retries take a few events of the run's history."""
    document = fan_out(10_000, retries=10)
    assert check(document) == []
    history = estimate(document, "execution history")
    assert (history.value, history.detail) == (113, "one item's child execution, 11 attempt(s)")
    assert quotas.child_events(11) == 113
    assert estimate(fan_out(10_000), "execution history").value == 86  # the parent: 27+33+26
    assert estimate(document, "plan").value < 8 * 1024  # the items are in S3, not the plan


def test_history_events_per_task_follow_the_state_machine() -> None:
    # MapIteration (2) + per attempt Run task (6) and Attempt failed (2) + Back off between
    # attempts (2) + Task failed (2).
    assert [quotas.task_events(a) for a in (1, 2, 11)] == [12, 22, 112]


def test_a_failing_stage_result_fits_whatever_the_fan_out() -> None:
    for items in (1, 20, 40):
        chars = reason_chars(items)
        assert 0 < chars <= REASON_CHARS_MAX
        assert estimate(fan_out(items), "largest stage result").fits
    assert reason_chars(1) == REASON_CHARS_MAX
    assert reason_chars(1000) < reason_chars(500) < reason_chars(40)


# The most stages with the longest names the schema allows, every one run.
LARGEST = {
    "job": "j" * 64,
    "stages": [
        {"name": f"{i:02d}" + "s" * 62, "run": ["bash", "x.sh"], "onFailure": "continue"}
        for i in range(100)
    ],
}


def test_the_largest_document_the_schema_allows_keeps_its_summary_under_the_cause_limit() -> None:
    summary = estimate(LARGEST, "summary")
    assert summary.limit == limits.CAUSE_CHARS
    assert summary.fits, summary.value


def test_the_notification_counts_fifty_log_lines_per_failure_and_still_fits_sns() -> None:
    """5 failures (the run keeps no more) of 50 lines of 400 bytes, the longest
    explanations, links and the largest summary: under SNS's 262,144 bytes."""
    document = {**LARGEST, "notifyLogLines": 50}
    wide = estimate(document, "notification")
    assert wide.limit == limits.SNS_MESSAGE_BYTES
    assert wide.fits, wide.value
    few = estimate({**document, "notifyLogLines": 0}, "notification")
    assert wide.value - few.value >= 5 * 50 * 400  # the lines are counted at their longest


def test_a_document_over_the_payload_limit_is_refused_with_its_size() -> None:
    document = {"job": "big", "stages": [{"name": "s", "run": ["bash", "x.sh", "y" * 270_000]}]}
    size = len(json.dumps(document, separators=(",", ":")))
    assert [str(p) for p in check(document)] == [
        f"/: is {size:,} bytes; Step Functions accepts an execution input of at most 262,144"
    ]


def test_an_invalid_document_error_fits_a_cause() -> None:
    problems = [Problem(f"/stages/{i}/name", "x" * 600) for i in range(1000)]
    message = str(InvalidJobDocument(problems))
    assert len(message) < limits.CAUSE_CHARS
    assert message.startswith("invalid job document (1000 problems): /stages/0/name: ")
    assert message.endswith("; and 950 more")


# --- the ASL builds what the guard assumes ---------------------------------------------------


def evaluate(expression: str, **variables: Any) -> Any:
    compiled = Jsonata(expression.removeprefix("{%").removesuffix("%}").strip())
    compiled.register_lambda("parse", json.loads)  # Step Functions' own JSONata function
    for name, value in variables.items():
        compiled.assign(name, value)
    return json.loads(json.dumps(compiled.evaluate(None)))


TASK_FAILED = STATES["Run stage"]["ItemProcessor"]["States"]["Task failed"]["Output"]


LONGEST_RUN = {"capacity": "FARGATE_SPOT", "seconds": 31_536_000, "stopCode": "SpotInterruption"}


@pytest.mark.parametrize(
    "failure",
    [
        {
            "Error": "States.TaskFailed",
            "Cause": json.dumps(
                {
                    "TaskArn": "arn:aws:ecs:us-east-1:1:task/c/" + "0" * 32,
                    "StoppedReason": 'CannotPullContainerError: \u00e9\n"' + "x" * 5000,
                    "Containers": [{}],
                    "PullStartedAt": 1732924800000,
                    "StartedAt": 1764547200000,
                    "StoppedAt": 1764547200000,
                    "StopCode": "TerminationNotice",
                    "CapacityProviderName": "FARGATE_SPOT",
                    "Cpu": "16384",
                    "Memory": "122880",
                    "EphemeralStorage": {"SizeInGiB": 200},
                }
            ),
        },
        {"Error": "States.Timeout", "Cause": '"quoted" \\ ' * 1000},
        {"Error": "ECS.AmazonECSException", "Cause": "Rate exceeded " * 1000},
    ],
)
@pytest.mark.parametrize("items", [1, INLINE_ITEMS_MAX])
def test_a_failed_task_record_is_never_larger_than_the_guard_assumes(
    failure: dict[str, Any], items: int
) -> None:
    chars = reason_chars(items)
    record = evaluate(
        TASK_FAILED,
        states={
            "input": {
                "index": items - 1,
                "item": "x",
                "attempt": 11,
                "interrupted": 0,
                # Every earlier attempt's run, and a lost Spot run, at their longest.
                "runs": [
                    {
                        "capacity": "FARGATE_SPOT",
                        "seconds": 31_536_000,
                        "stopCode": "SpotInterruption",
                    }
                ]
                * 11,
                "failure": failure,
                "stage": {"reasonChars": chars},
            }
        },
    )
    assert compact_size(record) <= compact_size(item_record(items - 1, chars))
    assert len(record["reason"]) == chars
    assert record["reason"].isascii()
    assert record["reason"].isprintable()


def test_the_summary_keeps_what_the_summary_module_says() -> None:
    """The ASL cannot import longjob_core: its constants are checked here."""
    results = STATES["Run stage"]["Assign"]["results"]
    assert f"$room := {FAILURES_KEPT} - $count($results.failures)" in results
    assert f"/[^ -~]/, '?'), 0, {ITEM_CHARS})" in results
    first = make_plan(fan_out(12), "x")["stages"][0]
    failed = [
        {"index": i, "status": "FAILED", "exitCode": 1, "reason": "r", "attempts": 1}
        for i in range(12)
    ]
    kept = evaluate(
        results,
        results=[{"name": "before", "failures": [{"item": None}] * 2}],
        states={"result": failed, "input": {"stages": [first]}},
        index=0,
        stage=first,
    )
    assert [f["item"] for f in kept[-1]["failures"]] == ["db0000", "db0001", "db0002"]
    assert (kept[-1]["tasks"], kept[-1]["succeeded"]) == (12, 0)


def test_prepare_job_gets_only_the_execution_ids() -> None:
    arguments = STATES["Prepare job"]["Arguments"]["Payload"]
    context = {
        "Execution": {
            "Id": "arn:aws:states:us-east-1:1:execution:m:n",
            "Name": "n",
            "StartTime": "2026-12-01T00:00:00Z",
            "Input": {"the": "document, a second time"},
            "RoleArn": "arn:aws:iam::1:role/r",
        }
    }
    execution = evaluate(arguments["execution"], states={"context": context})
    assert set(execution) == {"Id", "Name", "StartTime"}
