"""Turns a valid job document into the plan the state machine iterates.

The plan is the contract between prepare_job and statemachine/job.asl.json: one entry per
stage, each with its tasks already expanded (forEach, {item}), their container command in
the entrypoint's verbatim form and their environment in ECS's shape. The settings a task
needs while it runs (attempts, timeout) travel with the task, so the state machine never
has to look at the whole plan from inside a fan-out.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from longjob_core.validation import MAX_OVERRIDES_CHARS, Problem

PLAN_VERSION = 1
DEFAULT_JOB_TIMEOUT = 86400
DEFAULT_RETRY_DELAY = 10  # seconds before the first retry; doubles with each attempt
# The longest values the state machine adds at run time (LONGJOB_ATTEMPT) or that the
# execution gives (an execution name has at most 80 characters).
_RUNTIME_ENV_RESERVE = [
    {"Name": "LONGJOB_ATTEMPT", "Value": "11"},
]
_EXECUTION_NAME_MAX = "x" * 80


def item_text(item: str | int | float) -> str:
    return item if isinstance(item, str) else json.dumps(item)


def _substitute(value: str, item: str | None) -> str:
    return value if item is None else value.replace("{item}", item)


def stage_tasks(
    document: dict[str, Any],
    index: int,
    execution_name: str,
    retry_delay_seconds: int = DEFAULT_RETRY_DELAY,
) -> list[dict[str, Any]]:
    """The tasks of one stage: one, or one per forEach item."""
    stage = document["stages"][index]
    interpreter, script, *args = stage["run"]
    items: list[str | None] = (
        [item_text(i) for i in stage["forEach"]] if "forEach" in stage else [None]
    )
    timeout = stage.get("timeoutSeconds", document.get("timeoutSeconds", DEFAULT_JOB_TIMEOUT))
    resources = {"Cpu": str(stage["cpu"]), "Memory": str(stage["memory"])} if "cpu" in stage else {}
    tasks = []
    for item in items:
        environment = [
            {"Name": "LONGJOB_JOB", "Value": document["job"]},
            {"Name": "LONGJOB_STAGE", "Value": stage["name"]},
            {"Name": "LONGJOB_EXECUTION", "Value": execution_name},
        ]
        if item is not None:
            environment.append({"Name": "LONGJOB_ITEM", "Value": item})
        environment += [
            {"Name": name, "Value": _substitute(value, item)}
            for name, value in sorted((stage.get("env") or {}).items())
        ]
        tasks.append(
            {
                "label": stage["name"] if item is None else f"{stage['name']}:{item}",
                "item": item,
                "command": [interpreter, script, "--", *(_substitute(a, item) for a in args)],
                "environment": environment,
                "resources": resources,
                "maxAttempts": 1 + stage.get("retries", 0),
                "retryDelaySeconds": retry_delay_seconds,
                "timeoutSeconds": timeout,
            }
        )
    return tasks


def overrides_size(task: dict[str, Any], container_name: str = "toolbox") -> int:
    """Characters of one RunTask's container overrides as ECS counts them (JSON)."""
    overrides = {
        "containerOverrides": [
            {
                "name": container_name,
                "command": task["command"],
                "environment": task["environment"] + _RUNTIME_ENV_RESERVE,
            }
        ]
    }
    return len(json.dumps(overrides, separators=(",", ":"), ensure_ascii=False))


def oversized_tasks(document: dict[str, Any]) -> list[Problem]:
    problems = []
    for index, stage in enumerate(document["stages"]):
        for position, task in enumerate(stage_tasks(document, index, _EXECUTION_NAME_MAX)):
            size = overrides_size(task)
            if size > MAX_OVERRIDES_CHARS:
                where = (
                    f"/stages/{index}/forEach/{position}"
                    if "forEach" in stage
                    else (f"/stages/{index}/run")
                )
                problems.append(
                    Problem(
                        where,
                        f"this task's command and environment take {size} characters; "
                        f"ECS accepts at most {MAX_OVERRIDES_CHARS} in container overrides",
                    )
                )
    return problems


def _epoch_ms(moment: str | None) -> int:
    if not moment:
        return int(datetime.now().timestamp() * 1000)
    return int(datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp() * 1000)


def make_plan(
    document: dict[str, Any],
    execution_name: str,
    start_time: str | None = None,
    overlapping_execution: str | None = None,
    retry_delay_seconds: int = DEFAULT_RETRY_DELAY,
) -> dict[str, Any]:
    """The plan of a valid document (check it first with validation.check)."""
    timeout = document.get("timeoutSeconds", DEFAULT_JOB_TIMEOUT)
    stages = []
    for index, stage in enumerate(document["stages"]):
        tasks = stage_tasks(document, index, execution_name, retry_delay_seconds)
        stages.append(
            {
                "name": stage["name"],
                "always": stage.get("always", False),
                "onFailure": stage.get("onFailure", "stop"),
                "maxConcurrency": stage.get("maxConcurrency", 1),
                "tasks": tasks,
            }
        )
    return {
        "version": PLAN_VERSION,
        "job": document["job"],
        "execution": execution_name,
        "concurrency": document.get("concurrency", "forbid"),
        "notify": document.get("notify", "always"),
        "timeoutSeconds": timeout,
        "deadline": _epoch_ms(start_time) + timeout * 1000,
        "overlap": overlapping_execution is not None,
        "overlappingExecution": overlapping_execution,
        "stages": stages,
    }
