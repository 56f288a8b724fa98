"""The cost of a run and the bound of a plan, against figures worked out by hand from the
published prices (longjob_core/prices.json, us-east-1)."""

from __future__ import annotations

import json

import pytest
from longjob_core.cost import (
    PriceError,
    Prices,
    TaskSize,
    billed_seconds,
    parse_overrides,
    plan_bound,
    prices_for,
    run_cost,
)
from longjob_core.planning import make_plan
from longjob_core.summary import body

# us-east-1, Linux/X86_64, per hour: $0.04048 per vCPU, $0.004445 per GB, $0.000111 per GB
# of ephemeral storage above 20 GiB; $0.000025 per state transition; Lambda (Arm) $0.20 per
# million requests and $0.0000133334 per GB-second.
VCPU_HOUR, GB_HOUR, STORAGE_GB_HOUR = 0.04048, 0.004445, 0.000111


SUMMARY = {
    "job": "j",
    "execution": "e",
    "status": "SUCCEEDED",
    "stages": [
        {"name": "backup", "status": "SUCCEEDED", "tasks": 1, "succeeded": 1, "attempts": 1}
    ],
}


def usage_of_one_task(seconds: dict[str, int], storage: int = 20) -> dict:
    """What the workflow passes Notify beside the summary for a one-task run."""
    return {
        "architecture": "X86_64",
        "lockHeld": True,
        "functions": [{"name": "prepare_job", "ms": 250, "memoryMB": 256}],
        "stages": [
            {
                "name": "backup",
                "runs": 1,
                "seconds": seconds,
                "cpu": "2048",
                "memory": "4096",
                "storageGiB": storage,
            }
        ],
    }


def cost_of(seconds: dict[str, int], prices: Prices, storage: int = 20) -> dict:
    return run_cost(SUMMARY, prices, usage_of_one_task(seconds, storage))


@pytest.mark.parametrize(
    ("pulled", "stopped", "billed"),
    [
        (0, 45_000, 60),  # the one-minute minimum
        (0, 125_200, 126),  # per second, rounded up
        (1_000, 61_000, 60),
        (None, 5_000, 0),  # never pulled: nothing billed
    ],
)
def test_fargate_bills_per_second_with_a_one_minute_minimum(
    pulled: int | None, stopped: int, billed: int
) -> None:
    assert billed_seconds(pulled, stopped) == billed


def test_a_task_of_known_size_and_duration_costs_the_hand_computed_figure() -> None:
    """2 vCPU / 4 GB for 45 s is billed as 60 s: 60 x (2 x 0.04048 + 4 x 0.004445) / 3600
    = $0.0016457; 50 GiB of storage adds 30 GiB x 60 s x 0.000111 / 3600 = $0.0000555."""
    cost = cost_of({"FARGATE": 60}, prices_for("us-east-1"), storage=50)
    assert cost["fargate"] == pytest.approx(0.001646, abs=1e-6)
    assert cost["ephemeralStorage"] == pytest.approx(0.000056, abs=1e-6)
    assert cost["stages"] == [0.001701]
    assert cost["taskSeconds"] == {"FARGATE": {"vcpuSeconds": 120.0, "gbSeconds": 240.0}}
    # Prepare job, Already running?, Next stage? x2, Run stage, Run task, Release lock?,
    # Release lock, Notify, Job ended, Job succeeded: 11 transitions at $0.000025.
    assert cost["stateTransitions"] == {"count": 11, "usd": 0.000275}
    # One invocation of 250 ms at 256 MB: 0.0625 GB-s.
    assert cost["lambda"]["requests"] == 1
    assert cost["lambda"]["gbSeconds"] == pytest.approx(0.062, abs=0.001)
    assert cost["total"] == pytest.approx(0.001646 + 0.0000555 + 0.000275 + 0.000001, abs=2e-6)


def test_spot_seconds_are_priced_at_the_spot_ratio() -> None:
    prices = prices_for("us-east-1")
    on_demand = cost_of({"FARGATE": 3600}, prices)["fargate"]
    spot = cost_of({"FARGATE_SPOT": 3600}, prices)["fargate"]
    assert on_demand == pytest.approx(2 * VCPU_HOUR + 4 * GB_HOUR, abs=1e-6)
    assert spot == pytest.approx(on_demand * prices.spot_ratio, abs=1e-6)


def test_negotiated_rates_override_the_table_and_bad_ones_name_the_key() -> None:
    prices = prices_for("eu-west-1", parse_overrides('{"fargate": {"X86_64": {"vcpuHour": 0}}}'))
    cost = cost_of({"FARGATE": 3600}, prices)
    assert cost["fargate"] == pytest.approx(4 * GB_HOUR, abs=1e-6)
    with pytest.raises(PriceError, match=r"PriceOverrides\.fargate\.X86_64\.vcpu: not a price"):
        prices_for("us-east-1", {"fargate": {"X86_64": {"vcpu": 1}}})
    with pytest.raises(PriceError, match="must be a number, 0 or more"):
        prices_for("us-east-1", {"stateTransition": -1})
    with pytest.raises(PriceError, match="not JSON"):
        parse_overrides("{nope")


def test_a_region_without_prices_is_priced_as_us_east_1_and_says_so() -> None:
    cost = cost_of({"FARGATE": 60}, prices_for("ap-south-2"))
    assert cost["region"] == "ap-south-2"
    assert "us-east-1 list prices" in cost["prices"]


def test_the_plan_bound_is_every_attempt_to_its_time_limit() -> None:
    """One task, one retry, 100 s per attempt, 2 vCPU / 4 GB: 200 task-seconds."""
    document = {
        "job": "b",
        "stages": [
            {
                "name": "s",
                "run": ["bash", "x.sh"],
                "retries": 1,
                "timeoutSeconds": 100,
                "cpu": 2048,
                "memory": 4096,
            }
        ],
    }
    bound = plan_bound(
        make_plan(document, "<execution>"),
        prices_for("us-east-1"),
        TaskSize(architecture="X86_64", storage_gib=20),
    )
    assert bound["stages"] == [{"name": "s", "taskSeconds": 200, "usd": 0.005486}]
    assert bound["fargate"] == pytest.approx(200 * (2 * VCPU_HOUR + 4 * GB_HOUR) / 3600, abs=1e-6)
    spot = json.loads(json.dumps(document))
    spot["stages"][0]["capacity"] = "spot-then-on-demand"
    bound = plan_bound(make_plan(spot, "<e>"), prices_for("us-east-1"), TaskSize("X86_64"))
    assert bound["stages"][0]["taskSeconds"] == 300  # and a lost Spot run


def test_the_notification_shows_the_cost_per_stage_and_in_total() -> None:
    summary = {**SUMMARY, "cost": cost_of({"FARGATE": 60}, prices_for("us-east-1"))}
    text = body(summary)
    header, row = text.splitlines()[3:5]
    assert header.split()[-1] == "COST"
    assert row.split()[-1] == "$0.0016"
    assert "cost (estimate, us-east-1, prices " in text
    assert "not counted: data transfer, NAT, CloudWatch" in text
