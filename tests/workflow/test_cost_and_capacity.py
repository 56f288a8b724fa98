"""What a run cost, and where its tasks ran (docs/design.md §7, "Cost"; README "Cost").

Each test is a real local run on the project's stack: the state machine picks each
attempt's capacity provider, Fargate Spot takes a task back (an injected interruption, as
ECS stops it: SIGTERM, stop code SpotInterruption), and the summary, the report `longjob
run` prints and the notification say where each attempt ran and what the run cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from longjob_core.cost import prices_for

from longjob.cli.operate import failure_details, start_run
from longjob.engine.launchers import ProcessLauncher
from longjob.engine.local_engine import RunResult
from longjob.engine.patches import distributed_map
from longjob.report.history import fetch_history
from longjob.report.watcher import report, run_exit_code
from longjob.stack.application import load_application
from longjob.stack.local import LocalStack

from .conftest import job_summary, stage

X86 = {"RetryDelaySeconds": "1", "CpuArchitecture": "X86_64"}


def run_local(
    project: Path,
    document: dict[str, Any],
    parameters: dict[str, str] | None = None,
    fault: str | None = None,
) -> tuple[RunResult, dict[str, Any], str, list[dict[str, Any]], int]:
    """(result, summary, report, the tasks' requests, the states the run and its child
    executions entered: Step Functions bills a Standard workflow per state transition)."""
    application = load_application(project, parameters or {"RetryDelaySeconds": "1"})
    with LocalStack(application, ProcessLauncher(project), 2.0) as local:
        assert local.aws is not None
        assert local.stack is not None
        if fault is not None:
            local.engine.inject_ecs_faults(fault)
        arn = start_run(local.aws, local.stack, document, f"{document['job']}-local")
        result = local.end(arn)
        lines: list[str] = []
        description = local.aws.sfn.describe_execution(executionArn=arn)
        report(description, lines.append, failure_details(local.aws, local.stack, local.log_file))
        events = fetch_history(local.aws.sfn, arn)
        tasks = sorted(local.engine.runtime.tasks.values(), key=lambda t: t.created_at)
        requests = [{"request": t.request, "environment": t.environment} for t in tasks]
    summary = job_summary(result)
    assert summary is not None, result.cause
    transitions = sum(1 for e in events if e["type"].endswith("StateEntered"))
    for each in summary["stages"]:
        transitions += sum(c.states_entered for c in distributed_map.children(each.get("mapRun")))
    return result, summary, "\n".join(lines), requests, transitions


def test_a_spot_interruption_on_spot_then_on_demand_runs_again_on_demand_without_a_retry(
    project: Path,
) -> None:
    document = {
        "job": "spotty",
        "stages": [stage("work", "sleep.sh", capacity="spot-then-on-demand", env={"SLEEP": "3"})],
    }
    result, summary, text, requests, transitions = run_local(
        project, document, X86, fault="spot-interruption"
    )
    assert result.status == "SUCCEEDED", result.cause
    (work,) = summary["stages"]
    # The stage has no retries: the interrupted attempt did not use one.
    assert "retries" not in document["stages"][0]
    assert (work["status"], work["attempts"]) == ("SUCCEEDED", 2)
    assert work["spotLost"] == {"capacity": "spot-then-on-demand", "attempts": [1]}
    providers = [r["request"]["capacityProviderStrategy"][0]["capacityProvider"] for r in requests]
    assert providers == ["FARGATE_SPOT", "FARGATE"]
    assert [r["environment"]["LONGJOB_ATTEMPT"] for r in requests] == ["1", "2"]
    # Each run is billed its minute at least, on the provider it ran on: 1 vCPU, 2 GiB.
    assert summary["cost"]["taskSeconds"] == {
        "FARGATE": {"vcpuSeconds": 60.0, "gbSeconds": 120.0},
        "FARGATE_SPOT": {"vcpuSeconds": 60.0, "gbSeconds": 120.0},
    }
    assert "work: attempt 1 on Spot (interrupted), attempt 2 on demand" in text
    assert "2 (1 Spot lost)" in text
    assert (
        "work: attempt 1 on Spot (interrupted), attempt 2 on demand"
        in result.notifications[-1].message
    )
    # The cost: one minute on Spot and one on demand, 1 vCPU / 2 GiB, X86_64, 30 GiB of
    # ephemeral storage above the free 20 (the template's defaults), us-east-1 list prices.
    prices = prices_for("us-east-1")
    on_demand = 60 * (0.04048 / 3600 + 2 * 0.004445 / 3600)
    spot = on_demand * prices.spot_ratio
    storage = 120 * 30 * 0.000111 / 3600
    assert summary["cost"]["stages"] == [pytest.approx(on_demand + spot + storage, abs=2e-6)]
    assert summary["cost"]["stateTransitions"]["count"] == transitions


def test_on_spot_an_interruption_is_a_failed_attempt(project: Path) -> None:
    document = {"job": "spot-only", "stages": [stage("work", "sleep.sh", capacity="spot")]}
    result, summary, _text, requests, _transitions = run_local(
        project, document, X86, fault="spot-interruption"
    )
    assert result.status == "FAILED"
    (work,) = summary["stages"]
    assert (work["status"], work["attempts"]) == ("FAILED", 1)
    assert work["spotLost"] == {"capacity": "spot", "attempts": [1]}
    assert work["failures"][0]["stopCode"] == "SpotInterruption"
    assert [r["request"]["capacityProviderStrategy"] for r in requests] == [
        [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    ]


def test_spot_on_an_arm64_stack_is_refused_before_anything_starts(project: Path) -> None:
    """The template's default architecture is ARM64; the ECS developer guide says Fargate
    Spot runs X86_64 only (docs/aws-facts.md), so the document is refused, exit 2."""
    document = {"job": "arm-spot", "capacity": "spot", "stages": [stage("work", "sleep.sh")]}
    application = load_application(project, {"RetryDelaySeconds": "1"})
    with LocalStack(application, ProcessLauncher(project), 2.0) as local:
        assert local.aws is not None
        assert local.stack is not None
        arn = start_run(local.aws, local.stack, document, "arm-spot-local")
        result = local.end(arn)
        assert local.engine.runtime.tasks == {}
        description = local.aws.sfn.describe_execution(executionArn=arn)
    assert run_exit_code(description) == 2
    assert result.error == "InvalidJobDocument"
    assert "/capacity: Fargate Spot does not run ARM64 tasks" in str(result.cause)


@pytest.mark.parametrize(
    "stages",
    [
        pytest.param([stage("a", "exit.sh"), stage("b", "exit.sh")], id="two"),
        pytest.param(
            [stage("a", "exit.sh", env={"EXIT_CODE": "3"}, retries=1), stage("b", "exit.sh")],
            id="retried-then-skipped",
        ),
        pytest.param(
            [
                stage(
                    "a",
                    "exit.sh",
                    env={"EXIT_CODE": "{item}"},
                    forEach=["0", "4", "0"],
                    maxConcurrency=3,
                ),
                stage("b", "exit.sh", always=True),
            ],
            id="fan-out-with-a-failure",
        ),
        pytest.param(
            [
                stage(
                    "w",
                    "exit.sh",
                    env={"EXIT_CODE": "{item}"},
                    forEach=["0", "5"],
                    toleratedFailureCount=1,
                )
            ],
            id="wide",
        ),
    ],
)
def test_the_transitions_the_cost_counts_are_the_states_the_run_entered(
    project: Path, stages: list[dict[str, Any]]
) -> None:
    """Step Functions bills a Standard workflow per state transition: the count the cost
    derives from the summary is the history's, children of a wide stage included."""
    _result, summary, text, _requests, transitions = run_local(
        project, {"job": "tr", "stages": stages}
    )
    assert summary["cost"]["stateTransitions"]["count"] == transitions
    assert f"({transitions} transitions)" in text
    assert "COST" in text.splitlines()[1]
