"""Which failed attempts are retried: the stage's retries, its retryOn and failFast exit
codes, and Spot runs lost, as "Attempt failed" decides them (statemachine/job.asl.json)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from jsonata import Jsonata
from longjob_core.planning import make_plan
from longjob_core.validation import check

from tests.conftest import ROOT

STATES = json.loads((ROOT / "statemachine" / "job.asl.json").read_text())["States"]
ATTEMPT_FAILED = STATES["Run stage"]["ItemProcessor"]["States"]["Attempt failed"]


def retried(stage_fields: dict[str, Any], failure: dict[str, Any], attempt: int = 1) -> bool:
    """Whether "Attempt failed" sends this failure back to "Back off"."""
    document = {"job": "j", "stages": [{"name": "s", "run": ["bash", "x.sh"], **stage_fields}]}
    assert check(document) == []
    stage = make_plan(document, "e")["stages"][0]
    state_input = {
        "attempt": attempt,
        "interrupted": 0,
        "deadline": int(time.time() * 1000) + 3_600_000,
        "stage": stage,
        "failure": failure,
    }
    for choice in ATTEMPT_FAILED["Choices"]:
        compiled = Jsonata(choice["Condition"].removeprefix("{%").removesuffix("%}").strip())
        compiled.register_lambda("parse", json.loads)  # Step Functions' own function
        compiled.assign("states", {"input": state_input})
        if compiled.evaluate(None) is True:
            return True
    return False


def exited(code: int | None, **task_fields: str) -> dict[str, str]:
    container = {} if code is None else {"ExitCode": code}
    task = {"TaskArn": "arn:aws:ecs:us-east-1:1:task/c/t", "Containers": [container]}
    return {"Error": "States.TaskFailed", "Cause": json.dumps({**task, **task_fields})}


SPOT_LOST = exited(143, CapacityProviderName="FARGATE_SPOT", StopCode="SpotInterruption")


TIMED_OUT = {"Error": "States.Timeout", "Cause": "the attempt ran out of time"}


@pytest.mark.parametrize(
    ("fields", "failure", "expected"),
    [
        ({"retries": 1}, exited(3), True),
        ({"retries": 1}, TIMED_OUT, True),
        ({}, exited(3), False),  # no retries
        # failFast: those codes are never retried; others still are.
        ({"retries": 2, "failFast": {"exitCodes": [2]}}, exited(2), False),
        ({"retries": 2, "failFast": {"exitCodes": [2]}}, exited(3), True),
        # retryOn: only those codes; a timeout is exit code 124.
        ({"retries": 2, "retryOn": {"exitCodes": [75]}}, exited(75), True),
        ({"retries": 2, "retryOn": {"exitCodes": [75]}}, exited(1), False),
        ({"retries": 2, "retryOn": {"exitCodes": [75]}}, TIMED_OUT, False),
        ({"retries": 2, "retryOn": {"exitCodes": [75, 124]}}, TIMED_OUT, True),
        ({"retries": 2, "failFast": {"exitCodes": [124]}}, TIMED_OUT, False),
        # A task that never ran has no exit code: retried by default, not with retryOn.
        ({"retries": 2}, exited(None), True),
        ({"retries": 2, "retryOn": {"exitCodes": [75]}}, exited(None), False),
        # Fargate Spot taking the task back is not the script's exit: retried whatever the
        # codes say (on a spot stage; spot-then-on-demand moves to on demand without a retry).
        ({"retries": 1, "capacity": "spot", "retryOn": {"exitCodes": [75]}}, SPOT_LOST, True),
        ({"retries": 1, "capacity": "spot", "failFast": {"exitCodes": [143]}}, SPOT_LOST, True),
        ({"capacity": "spot"}, SPOT_LOST, False),  # no retries left
        # Infrastructure errors that outlived the in-place retries are not the script's.
        ({"retries": 2}, {"Error": "ECS.AmazonECSException", "Cause": "x"}, False),
    ],
)
def test_which_failures_are_retried(
    fields: dict[str, Any], failure: dict[str, Any], expected: bool
) -> None:
    assert retried(fields, failure) is expected


def test_retries_still_run_out() -> None:
    fields = {"retries": 1, "retryOn": {"exitCodes": [75]}}
    assert retried(fields, exited(75), attempt=1)
    assert not retried(fields, exited(75), attempt=2)


def test_exit_code_lists_are_checked() -> None:
    def problems(**fields: Any) -> list[str]:
        stage = {"name": "s", "run": ["bash", "x.sh"], **fields}
        return [str(p) for p in check({"job": "j", "stages": [stage]})]

    assert problems(retryOn={"exitCodes": [0, 3, 3]}, failFast={"exitCodes": [256]}) == [
        "/stages/0/failFast/exitCodes/0: must be at most 255",
        "/stages/0/retryOn/exitCodes: must not list an item twice",
        "/stages/0/retryOn/exitCodes/0: must be at least 1",
    ]
    assert problems(retryOn={"exitCodes": [3, 4]}, failFast={"exitCodes": [4, 2]}) == [
        "/stages/0/failFast/exitCodes: 4 also in retryOn: a code is either retried or failed "
        "at once"
    ]
    assert problems(retryOn={}) == ["/stages/0/retryOn/exitCodes: is required"]
    assert problems(failFast={"codes": [1]}) == [
        "/stages/0/failFast/codes: unknown field (allowed: exitCodes)",
        "/stages/0/failFast/exitCodes: is required",
    ]
