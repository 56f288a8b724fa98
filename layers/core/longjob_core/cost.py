"""What a run cost, and what a job may cost at most: an estimate from list prices.

A run's summary records what AWS bills by (docs/design.md §7): per stage the billed
task-seconds on each capacity provider (Fargate bills per second, one minute at least, from
the image pull's start to the task's stop: the ASL computes each run's figure), the task
size (vCPU, memory, ephemeral storage), the task runs, tasks and failures (from which the
state transitions follow), and the Lambda functions' own time. This module prices them with
the versioned table `prices.json` (data, not code) and the stack's overrides.

Left out, and said so wherever the figure is shown: data transfer, NAT, CloudWatch (logs,
metrics, alarms), S3, KMS, DynamoDB, SNS, ECR storage, the free tiers, and the in-place
retries of ECS and Lambda API errors (each a billed transition whose number AWS decides).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from longjob_core.contract import (
    APPROVAL_MODE,
    APPROVED,
    FAILED,
    FARGATE,
    FARGATE_SPOT,
    SKIPPED,
    SPOT_THEN_ON_DEMAND,
)

TABLE = Path(__file__).with_name("prices.json")
CAPACITY_PROVIDERS = (FARGATE, FARGATE_SPOT)
MINIMUM_BILLED_SECONDS = 60  # Fargate's minimum charge per task (the ASL uses the same)
FREE_STORAGE_GIB = 20  # ephemeral storage included in every Fargate task
DEFAULT_STORAGE_GIB = 20
DIGITS = 6  # USD figures are rounded to a millionth of a dollar
# State transitions that do not depend on the stages (docs/design.md §6 names the states):
# Prepare job, Already running?, the last Next stage?, Release lock?, Notify, Job ended and
# Job succeeded/failed; Release lock when the run held the lock.
RUN_TRANSITIONS = 7
INVALID_RUN_TRANSITIONS = 4  # Prepare job (refused), Notify, Job ended, Job failed
SKIPPED_RUN_TRANSITIONS = 5  # Prepare job, Already running?, Notify, Job ended, Job succeeded
# A wide stage's own states: Next stage?, Wide stage input, CSV items?, the Map, Read stage
# results. An inline stage's: Next stage? and the Map; a skipped stage's: Next stage? and
# Skip stage.
WIDE_STAGE_TRANSITIONS = 5
INLINE_STAGE_TRANSITIONS = 2
SKIPPED_STAGE_TRANSITIONS = 2
# An approval stage's: Next stage? and Ask approval; an approval's answer, Check answer too.
APPROVAL_STAGE_TRANSITIONS = 2


class PriceError(ValueError):
    """The table or an override is unusable (names the key and the rule)."""


@cache
def table() -> dict[str, Any]:
    return json.loads(TABLE.read_text())


@dataclass(frozen=True)
class Prices:
    """One region's prices, per second where AWS prices per hour."""

    region: str
    version: str
    vcpu_second: dict[str, float]  # by architecture, on demand
    gb_second: dict[str, float]
    spot_ratio: float
    storage_gb_second: float
    transition: float
    lambda_request: float
    lambda_gb_second: float
    table_region: str  # the table's region whose figures these are

    def fargate_rates(self, architecture: str, provider: str) -> tuple[float, float]:
        ratio = self.spot_ratio if provider == FARGATE_SPOT else 1.0
        return self.vcpu_second[architecture] * ratio, self.gb_second[architecture] * ratio


def _merged(base: dict[str, Any], overrides: dict[str, Any], where: str) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if key not in base:
            raise PriceError(f"{where}{key}: not a price of the table ({', '.join(sorted(base))})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise PriceError(f"{where}{key}: must be an object like the table's")
            merged[key] = _merged(base[key], value, f"{where}{key}.")
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise PriceError(f"{where}{key}: must be a number, 0 or more (USD)")
        else:
            merged[key] = float(value)
    return merged


def parse_overrides(text: str | None) -> dict[str, Any]:
    """The stack's PriceOverrides parameter: JSON, keys as in a region of prices.json, plus
    spotRatio; empty means none."""
    if not text or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise PriceError(f"PriceOverrides: not JSON ({error})") from None
    if not isinstance(value, dict):
        raise PriceError("PriceOverrides: must be a JSON object")
    return value


def prices_for(region: str, overrides: dict[str, Any] | None = None) -> Prices:
    """The region's prices with the overrides applied. A region the table lacks is priced
    as us-east-1 (``table_region`` says so) unless the overrides give every figure."""
    data = table()
    regions = data["regions"]
    table_region = region if region in regions else "us-east-1"
    overrides = dict(overrides or {})
    spot_ratio = overrides.pop("spotRatio", data["spotRatio"])
    if isinstance(spot_ratio, bool) or not isinstance(spot_ratio, int | float) or spot_ratio < 0:
        raise PriceError("PriceOverrides.spotRatio: must be a number, 0 or more")
    entry = _merged(regions[table_region], overrides, "PriceOverrides.")
    return Prices(
        region=region,
        version=data["version"],
        vcpu_second={a: p["vcpuHour"] / 3600 for a, p in entry["fargate"].items()},
        gb_second={a: p["gbHour"] / 3600 for a, p in entry["fargate"].items()},
        spot_ratio=float(spot_ratio),
        storage_gb_second=entry["ephemeralStorageGbHour"] / 3600,
        transition=entry["stateTransition"],
        lambda_request=entry["lambdaRequest"],
        lambda_gb_second=entry["lambdaGbSecond"],
        table_region=table_region,
    )


def billed_seconds(pull_started_ms: int | None, stopped_ms: int | None) -> int:
    """What Fargate bills one task for: per second, rounded up, one minute at least, from
    the image pull's start to the task's stop; nothing for a task that never pulled."""
    if pull_started_ms is None or stopped_ms is None:
        return 0
    return max(MINIMUM_BILLED_SECONDS, -(-(stopped_ms - pull_started_ms) // 1000))


def _number(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def fargate_usd(
    seconds: dict[str, float],
    cpu: Any,
    memory: Any,
    storage_gib: Any,
    architecture: str,
    prices: Prices,
) -> tuple[float, float]:
    """(compute, storage) in USD for billed task-seconds per capacity provider."""
    vcpu = _number(cpu, 0) / 1024
    gb = _number(memory, 0) / 1024
    extra = max(0.0, _number(storage_gib, DEFAULT_STORAGE_GIB) - FREE_STORAGE_GIB)
    compute = storage = 0.0
    for provider, billed in seconds.items():
        if not billed:
            continue
        vcpu_rate, gb_rate = prices.fargate_rates(architecture, provider)
        compute += billed * (vcpu * vcpu_rate + gb * gb_rate)
        storage += billed * extra * prices.storage_gb_second
    return compute, storage


def stage_transitions(stage: dict[str, Any], runs: int) -> int:
    """The state transitions of a stage whose tasks ran ``runs`` times in all: its own
    states, and per task run a Run task; per run that failed and ran again, Attempt failed
    and Back off; per failed task, Attempt failed and Task failed (a wide stage's child:
    Item failed too)."""
    if stage.get("status") == SKIPPED and not stage.get("tasks"):
        return SKIPPED_STAGE_TRANSITIONS
    if stage.get("mode") == APPROVAL_MODE:
        # An approval, or an answer without its key, went through Check answer.
        checked = stage.get("status") == APPROVED or (
            stage.get("status") == FAILED and "answer" in stage
        )
        return APPROVAL_STAGE_TRANSITIONS + (1 if checked else 0)
    succeeded = int(stage.get("succeeded") or 0)
    if stage.get("mode") == "distributed":
        failed = int(stage.get("failed") or 0)
        started = succeeded + failed
        return WIDE_STAGE_TRANSITIONS + 3 * runs - 2 * started + 3 * failed
    tasks = int(stage.get("tasks") or 0)
    failed = tasks - succeeded
    return INLINE_STAGE_TRANSITIONS + 3 * runs - 2 * tasks + 2 * failed


def run_transitions(summary: dict[str, Any], usage: dict[str, Any] | None = None) -> int:
    """The run's state transitions, from its summary and what its stages used."""
    usage = usage or {}
    status = summary.get("status")
    if status == "INVALID" or summary.get("error") == "PrepareJobFailed":
        return INVALID_RUN_TRANSITIONS
    if status == "SKIPPED":
        return SKIPPED_RUN_TRANSITIONS
    runs = {u.get("name"): int(u.get("runs") or 0) for u in usage.get("stages") or []}
    fixed = RUN_TRANSITIONS + (1 if usage.get("lockHeld") else 0)
    return fixed + sum(
        stage_transitions(s, runs.get(s.get("name"), 0)) for s in summary.get("stages") or []
    )


def function_usage(name: str, started: float) -> dict[str, Any]:
    """A Lambda invocation's own record for the run's cost: its time so far (from
    ``time.monotonic()`` at its start) and its memory (Lambda's reserved variable)."""
    return {
        "name": name,
        "ms": max(1, math.ceil((time.monotonic() - started) * 1000)),
        "memoryMB": int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or 128),
    }


def _round(value: float) -> float:
    return round(value, DIGITS)


def _lambda(invocations: list[dict[str, Any]], prices: Prices) -> tuple[float, float]:
    """(GB-seconds, USD) of Lambda invocations."""
    gb_seconds = sum(
        _number(f.get("ms"), 0) / 1000 * _number(f.get("memoryMB"), 0) / 1024 for f in invocations
    )
    return gb_seconds, len(
        invocations
    ) * prices.lambda_request + gb_seconds * prices.lambda_gb_second


def _priced(
    prices: Prices,
    architecture: str,
    fargate: float,
    storage: float,
    transitions: int,
    invocations: list[dict[str, Any]],
) -> dict[str, Any]:
    """What a cost and a bound share: the region, the table, and the figures in USD."""
    gb_seconds, lambda_usd = _lambda(invocations, prices)
    transitions_usd = transitions * prices.transition
    return {
        "currency": "USD",
        "region": prices.region,
        "prices": f"{prices.version} ({prices.table_region} list prices)",
        "architecture": architecture,
        "total": _round(fargate + storage + transitions_usd + lambda_usd),
        "fargate": _round(fargate),
        "ephemeralStorage": _round(storage),
        "stateTransitions": {"count": transitions, "usd": _round(transitions_usd)},
        "lambda": {
            "requests": len(invocations),
            "gbSeconds": round(gb_seconds, 3),
            "usd": _round(lambda_usd),
        },
    }


def run_cost(
    summary: dict[str, Any],
    prices: Prices,
    usage: dict[str, Any] | None = None,
    extra_functions: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    """The run's cost object (docs/design.md §7): USD per stage (in the summary's order;
    null for a stage that ran no task), and for the run Fargate's vCPU- and GB-seconds per
    capacity provider, storage, transitions and Lambda. ``usage`` is what the workflow
    passes Notify: the stack's architecture, the lock, the functions' time and per stage
    its runs, billed seconds per provider and task size."""
    usage = usage or {}
    architecture = usage.get("architecture") or "X86_64"
    if architecture not in prices.vcpu_second:
        architecture = "X86_64"
    used = {u.get("name"): u for u in usage.get("stages") or [] if isinstance(u, dict)}
    default = usage.get("taskSize") or {}  # the stack's, for records that carry no size
    per_stage: list[float | None] = []
    providers: dict[str, dict[str, float]] = {}
    fargate = storage = 0.0
    for stage in summary.get("stages") or []:
        entry = used.get(stage.get("name"))
        if entry is None:
            per_stage.append(None)
            continue
        seconds = {p: _number(v, 0) for p, v in (entry.get("seconds") or {}).items()}
        size = {k: entry.get(k) or default.get(k) for k in ("cpu", "memory", "storageGiB")}
        compute, disk = fargate_usd(
            seconds, size["cpu"], size["memory"], size["storageGiB"], architecture, prices
        )
        fargate += compute
        storage += disk
        per_stage.append(_round(compute + disk))
        for provider, billed in seconds.items():
            if billed:
                sums = providers.setdefault(provider, {"vcpuSeconds": 0.0, "gbSeconds": 0.0})
                sums["vcpuSeconds"] += billed * _number(size["cpu"], 0) / 1024
                sums["gbSeconds"] += billed * _number(size["memory"], 0) / 1024
    incomplete = [name for name, u in used.items() if u.get("incomplete")]
    invocations = [f for f in usage.get("functions") or [] if isinstance(f, dict)]
    invocations += list(extra_functions)
    # Each approval request is a Notify invocation whose time the workflow never sees (a
    # callback task's Lambda result is not recorded): a request, without GB-seconds.
    invocations += [
        {"name": "notify", "ms": 0}
        for stage in summary.get("stages") or []
        if stage.get("mode") == APPROVAL_MODE and stage.get("status") != SKIPPED
    ]
    totals = _priced(
        prices, architecture, fargate, storage, run_transitions(summary, usage), invocations
    )
    return {
        **totals,
        "estimate": True,
        "taskSeconds": {
            p: {k: round(v, 1) for k, v in t.items()} for p, t in sorted(providers.items())
        },
        "stages": per_stage,
        # Wide stages too large to read every item's record: their cost is a lower bound.
        **({"incomplete": incomplete} if incomplete else {}),
    }


@dataclass(frozen=True)
class TaskSize:
    """What a task runs with when its stage does not say: the stack's task definition."""

    architecture: str = "ARM64"
    cpu: int = 1024
    memory: int = 2048
    storage_gib: int = 50
    lambda_memory_mb: int = 256
    lambda_timeout_seconds: int = 60


def spot_fallback_runs(stage: dict[str, Any]) -> int:
    """Runs a task may use beyond its attempts: a spot-then-on-demand task's lost Spot run."""
    return 1 if stage.get("capacity") == SPOT_THEN_ON_DEMAND else 0


def plan_bound(plan: dict[str, Any], prices: Prices, size: TaskSize) -> dict[str, Any]:
    """The most a planned job can cost: every task uses every attempt (and its Spot
    fallback) to its attempt's time limit, priced on demand whatever its capacity (Spot's
    price changes), every Lambda runs to its timeout. An upper bound, not a forecast; a
    forEachFrom stage's items are read at run time, so it is left out and named in
    ``unbounded``."""
    job_limit = int(plan.get("timeoutSeconds") or 0)
    stages = []
    fargate = storage = 0.0
    records: list[dict[str, Any]] = []
    used: list[dict[str, Any]] = []
    unknown = []
    for stage in plan.get("stages") or []:
        if stage.get("mode") == APPROVAL_MODE:  # no task: its transitions and request only
            stages.append({"name": stage["name"], "taskSeconds": 0, "usd": 0.0})
            records.append({"name": stage["name"], "mode": APPROVAL_MODE, "status": APPROVED})
            continue
        if stage.get("items") is None and not stage.get("itemCount"):
            unknown.append(stage["name"])  # forEachFrom: its items are read at run time
            stages.append({"name": stage["name"], "taskSeconds": None, "usd": None})
            continue
        tasks = int(stage.get("itemCount") or len(stage.get("items") or [None]))
        runs = int(stage.get("maxAttempts") or 1) + spot_fallback_runs(stage)
        limit = min(int(stage.get("timeoutSeconds") or job_limit), job_limit or 10**9)
        seconds = tasks * runs * max(MINIMUM_BILLED_SECONDS, limit)
        resources = stage.get("resources") or {}
        compute, disk = fargate_usd(
            {FARGATE: seconds},
            resources.get("Cpu", size.cpu),
            resources.get("Memory", size.memory),
            size.storage_gib,
            size.architecture,
            prices,
        )
        fargate += compute
        storage += disk
        stages.append(
            {"name": stage["name"], "taskSeconds": seconds, "usd": _round(compute + disk)}
        )
        records.append(
            {"name": stage["name"], "mode": stage.get("mode"), "tasks": tasks, "succeeded": 0,
             "failed": tasks, "status": "FAILED"}
        )  # fmt: skip
        used.append({"name": stage["name"], "runs": tasks * runs})
    worst = {"status": "FAILED", "stages": records}
    transitions = run_transitions(
        worst, {"lockHeld": plan.get("concurrency") == "forbid", "stages": used}
    )
    requests = 2 + sum(1 for r in records if r["mode"] in ("distributed", APPROVAL_MODE))
    worst_call = {"ms": size.lambda_timeout_seconds * 1000, "memoryMB": size.lambda_memory_mb}
    totals = _priced(
        prices, size.architecture, fargate, storage, transitions, [worst_call] * requests
    )
    return {
        **totals,
        "bound": True,
        "stages": stages,
        # Stages whose items are only known at run time (forEachFrom): not in the bound.
        "unbounded": unknown,
    }


def usd(value: Any) -> str:
    """A figure for a table: $0.0123; "-" when unknown."""
    if not isinstance(value, int | float):
        return "-"
    return f"${value:.4f}" if value < 100 else f"${value:,.2f}"


def cost_line(cost: dict[str, Any]) -> str:
    """One line under a run's table: the total, its parts, and what it is."""
    transitions = cost.get("stateTransitions") or {}
    lambdas = cost.get("lambda") or {}
    return (
        f"cost (estimate, {cost.get('region')}, prices {cost.get('prices')}): "
        f"{usd(cost.get('total'))} = Fargate {usd(cost.get('fargate'))}"
        f" + storage {usd(cost.get('ephemeralStorage'))}"
        f" + Step Functions {usd(transitions.get('usd'))} ({transitions.get('count')} "
        f"transitions) + Lambda {usd(lambdas.get('usd'))} ({lambdas.get('requests')} "
        "requests); not counted: data transfer, NAT, CloudWatch, S3, free tiers"
        + (
            f"; at least, for {', '.join(cost['incomplete'])} (too many items to read)"
            if cost.get("incomplete")
            else ""
        )
    )
