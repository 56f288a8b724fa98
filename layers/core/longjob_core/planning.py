"""Turns a valid job document into the plan the state machine iterates.

The plan is the contract between prepare_job and statemachine/job.asl.json. Each stage
carries its task template once (the container command in the entrypoint's verbatim form,
the environment in ECS's shape, `{item}` still in place) and its `items`: the forEach
items as text, or `[null]` for a plain stage. The state machine makes one task per item,
replacing `{item}`, so a 1,000-item fan-out stays far below Step Functions' 256 KiB
payload limit. `expand_stage` does the same expansion here, for validation (each task's
overrides must fit ECS's limit) and for `longjob plan`.

Each task's iteration returns a small record (`item_record` is its largest form); a failed
task keeps its reason cut to the stage's `reasonChars`, chosen so that a stage whose every
task fails still returns a Map result under the payload limit (docs/design.md, "Bounded
state").

A *wide* stage (over INLINE_ITEMS_MAX items, items from S3, or a tolerated failure rate) runs
as a Distributed Map: each item in a child execution with its own history, the items read
from S3 (`itemReader`) and the results written there (`results`). Its items leave the plan
before the state machine sees it (`detach_items`: prepare_job writes them to the run bucket),
so a 10,000-item stage costs the plan a key, not the items.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from longjob_core.contract import (
    APPROVAL_MODE,
    ATTEMPT_ENV,
    CHECKPOINT_ENV,
    CHECKPOINTS_FOLDER,
    DEADLINE_ENV,
    EXECUTION_ENV,
    GRACE_ENV,
    ITEM_ENV,
    ITEM_PLACEHOLDER,
    JOB_ENV,
    STAGE_ENV,
    label,
)
from longjob_core.failure_reports import DEFAULT_LOG_LINES
from longjob_core.limits import OVERRIDES_CHARS, PAYLOAD_BYTES
from longjob_core.problems import Problem

PLAN_VERSION = 1
DEFAULT_JOB_TIMEOUT = 86400
DEFAULT_APPROVAL_TIMEOUT = 86400  # an approval stage's wait, when it does not say
DEFAULT_RETRY_DELAY = 10  # seconds before the first retry; doubles with each attempt
# The longest values the state machine adds at run time (attempt, deadline, grace) or that the
# execution gives (an execution name has at most 80 characters).
_RUNTIME_ENV_RESERVE = [
    {"Name": ATTEMPT_ENV, "Value": "11"},
    {"Name": CHECKPOINT_ENV, "Value": "s3://" + "b" * 63 + "/" + "k" * 170 + "/item-99999999"},
    {"Name": DEADLINE_ENV, "Value": "99999999999"},
    {"Name": GRACE_ENV, "Value": "30"},
]
# A stage's Map result may use this much of the payload limit; the rest is margin.
MAP_RESULT_BUDGET = PAYLOAD_BYTES - 16 * 1024
# A failed task's reason: at most this long, shorter when many tasks share the budget.
# The workflow replaces characters outside printable ASCII, so each takes at most two bytes
# of JSON (a quote or backslash is escaped).
REASON_CHARS_MAX = 200
REASON_BYTES_PER_CHAR = 2
# Above this many items a stage is wide. An inline Map runs at most 40 iterations at once
# and writes every task's events into the parent's history (docs/aws-facts.md).
INLINE_ITEMS_MAX = 40
INLINE, DISTRIBUTED = "inline", "distributed"
# A wide stage's objects in the run bucket: its items (when the document lists them) and
# the Distributed Map's results, under one prefix per run and stage.
RUN_PREFIX = "runs"
ITEMS_OBJECT = "items.json"
RESULTS_FOLDER = "results"
# Where the plan names the run bucket when the stack is not known (`longjob plan`).
RUN_BUCKET_PLACEHOLDER = "<the stack's RunBucket>"
# toleratedFailureCount when only the percentage is given: no count limit.
NO_COUNT_LIMIT = 100_000_000


def item_record(index: int, reason_chars: int) -> dict[str, Any]:
    """The largest record one task's iteration can return (see "Task failed" in the ASL)."""
    return {
        "index": index,
        "status": "TIMED_OUT",
        "exitCode": 255,
        "stopCode": "ServiceSchedulerInitiated",  # the longest stop code
        "reason": '"' * reason_chars,  # each escaped: the most bytes a character can take
        "attempts": 11,
        "taskId": "0" * 32,
        "startedAt": 10**13,
        "stoppedAt": 10**13,
        # Every attempt's run, and a lost Spot run: where it ran and what it was billed.
        "runs": [
            {"capacity": "FARGATE_SPOT", "seconds": 31_536_000, "stopCode": "TerminationNotice"}
        ]
        * 12,
        "cpu": "16384",
        "memory": "122880",
        "storageGiB": 200,
    }


def compact_size(value: Any) -> int:
    """UTF-8 bytes of a value as compact JSON, the way Step Functions measures payloads."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def reason_chars(items: int) -> int:
    """How much of a failed task's reason each of ``items`` tasks may keep; negative when
    even empty reasons do not fit (the quota guard refuses such a stage)."""
    per_item = MAP_RESULT_BUDGET // items - 1  # one comma between records
    overhead = compact_size(item_record(items - 1, 0))
    return min(REASON_CHARS_MAX, (per_item - overhead) // REASON_BYTES_PER_CHAR)


def item_text(item: str | int | float) -> str:
    return item if isinstance(item, str) else json.dumps(item)


def is_wide(stage: dict[str, Any]) -> bool:
    """Whether a (valid) document stage runs as a Distributed Map."""
    return (
        "forEachFrom" in stage
        or len(stage.get("forEach", ())) > INLINE_ITEMS_MAX
        or "toleratedFailurePercentage" in stage
        or "toleratedFailureCount" in stage
    )


def s3_location(url: str) -> tuple[str, str]:
    """s3://bucket/key -> (bucket, key)."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key


def item_source_problems(document: dict[str, Any], buckets: list[str]) -> list[Problem]:
    """forEachFrom objects outside ``buckets`` (the stack's run and data buckets), which the
    state machine's role may not read: the stage would fail only when it starts."""
    allowed = [b for b in buckets if b]
    return [
        Problem(
            f"/stages/{index}/forEachFrom",
            f"the state machine may read item lists only from this stack's buckets "
            f"({', '.join(allowed)}), not {s3_location(stage['forEachFrom'])[0]}",
        )
        for index, stage in enumerate(document["stages"])
        if "forEachFrom" in stage and s3_location(stage["forEachFrom"])[0] not in allowed
    ]


def stage_prefix(execution_name: str, stage_name: str) -> str:
    return f"{RUN_PREFIX}/{execution_name}/{stage_name}"


def _wide_settings(stage: dict[str, Any], execution_name: str, run_bucket: str) -> dict[str, Any]:
    prefix = stage_prefix(execution_name, stage["name"])
    if "forEachFrom" in stage:
        bucket, key = s3_location(stage["forEachFrom"])
    else:
        bucket, key = run_bucket, f"{prefix}/{ITEMS_OBJECT}"
    percentage = stage.get("toleratedFailurePercentage")
    count = stage.get("toleratedFailureCount")
    reader = {"Bucket": bucket, "Key": key}
    if key.endswith(".csv"):
        reader["InputType"] = "CSV"  # the ASL picks the Map that reads CSV (a header row)
    return {
        "mode": DISTRIBUTED,
        "itemReader": reader,
        "results": {"Bucket": run_bucket, "Prefix": f"{prefix}/{RESULTS_FOLDER}"},
        # The Map fails when either limit is passed: a limit the document leaves out must
        # not be the strictest one.
        "toleratedFailurePercentage": (
            percentage if percentage is not None else (100 if count is not None else 0)
        ),
        "toleratedFailureCount": (
            count if count is not None else (NO_COUNT_LIMIT if percentage is not None else 0)
        ),
    }


def plan_stage(
    document: dict[str, Any],
    index: int,
    execution_name: str,
    retry_delay_seconds: int = DEFAULT_RETRY_DELAY,
    run_bucket: str = RUN_BUCKET_PLACEHOLDER,
    default_capacity: str | None = None,
) -> dict[str, Any]:
    """One stage of the plan: its settings, its task template and its items."""
    stage = document["stages"][index]
    if "approval" in stage:
        return plan_approval(stage, document)
    interpreter, script, *args = stage["run"]
    for_each = "forEach" in stage or "forEachFrom" in stage
    wide = is_wide(stage)
    environment = [
        {"Name": JOB_ENV, "Value": document["job"]},
        {"Name": STAGE_ENV, "Value": stage["name"]},
        {"Name": EXECUTION_ENV, "Value": execution_name},
        *([{"Name": ITEM_ENV, "Value": ITEM_PLACEHOLDER}] if for_each else []),
        *(
            {"Name": name, "Value": value}
            for name, value in sorted((stage.get("env") or {}).items())
        ),
    ]
    if "forEachFrom" in stage:
        items = None  # read by the Map when the stage starts
    else:
        items = [item_text(i) for i in stage["forEach"]] if "forEach" in stage else [None]
    return {
        "name": stage["name"],
        **(_wide_settings(stage, execution_name, run_bucket) if wide else {"mode": INLINE}),
        "always": stage.get("always", False),
        "onFailure": stage.get("onFailure", "stop"),
        "maxConcurrency": stage.get("maxConcurrency", 1),
        "maxAttempts": 1 + stage.get("retries", 0),
        # Which failures are retried (empty: any), and which never are (docs/design.md §5).
        "retryExitCodes": sorted((stage.get("retryOn") or {}).get("exitCodes", [])),
        "failFastExitCodes": sorted((stage.get("failFast") or {}).get("exitCodes", [])),
        # The stage's, else the job's, else the stack's (prepare_job knows it; None when
        # unknown: the ASL then asks for the stack's CapacityProvider).
        "capacity": stage.get("capacity", document.get("capacity", default_capacity)),
        "timeoutSeconds": stage.get(
            "timeoutSeconds", document.get("timeoutSeconds", DEFAULT_JOB_TIMEOUT)
        ),
        "retryDelaySeconds": retry_delay_seconds,
        # Its tasks' checkpoints: this run's, or on a redrive the first run's (the ASL adds
        # `task` or `item-<index>`; contract.CHECKPOINT_ENV).
        "checkpoint": checkpoint_prefix(
            run_bucket,
            document.get("checkpointsFrom", execution_name)
            if stage.get("resume", True)
            else execution_name,
            stage["name"],
        ),
        "resources": (
            {"Cpu": str(stage["cpu"]), "Memory": str(stage["memory"])} if "cpu" in stage else {}
        ),
        "command": [interpreter, script, "--", *args],
        "environment": environment,
        # A wide stage's records go to S3, one per item: no shared budget.
        "reasonChars": REASON_CHARS_MAX if wide else max(0, reason_chars(len(items or ()))),
        "items": items,
    }


def plan_approval(stage: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """An approval stage: no task, no items; the workflow waits at most timeoutSeconds (and
    never past the job's deadline) for `longjob approve`."""
    approval = stage["approval"]
    return {
        "name": stage["name"],
        "mode": APPROVAL_MODE,
        "always": False,
        "onFailure": "stop",
        "timeoutSeconds": min(
            approval.get("timeoutSeconds", DEFAULT_APPROVAL_TIMEOUT),
            document.get("timeoutSeconds", DEFAULT_JOB_TIMEOUT),
        ),
        "message": approval["message"],
        "approvers": approval.get("approvers"),
        "items": [],
    }


def checkpoint_prefix(run_bucket: str, run: str, stage: str) -> str:
    """The S3 prefix of a stage's checkpoints in a run (under the run bucket's expiring
    `runs/`)."""
    return f"s3://{run_bucket}/{RUN_PREFIX}/{run}/{CHECKPOINTS_FOLDER}/{stage}/"


def detach_items(plan: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
    """The plan as the state machine gets it, and the objects to write first: each wide
    stage's listed items leave the plan for its itemReader object."""
    objects = []
    stages = []
    for stage in plan["stages"]:
        if stage["mode"] == DISTRIBUTED and stage["items"] is not None:
            reader = stage["itemReader"]
            body = json.dumps(stage["items"], separators=(",", ":"), ensure_ascii=False)
            objects.append((reader["Bucket"], reader["Key"], body.encode()))
            stage = {**stage, "items": None, "itemCount": len(stage["items"])}
        stages.append(stage)
    return {**plan, "stages": stages}, objects


def expand_stage(stage: dict[str, Any]) -> list[dict[str, Any]]:
    """The tasks of a planned stage, as the state machine makes them (none for a stage
    whose items are read from S3 when it starts)."""

    def fill(text: str, item: str | None) -> str:
        return text if item is None else item.join(text.split(ITEM_PLACEHOLDER))

    return [
        {
            "label": label(stage["name"], item),
            "item": item,
            "command": [fill(a, item) for a in stage["command"]],
            "environment": [
                {"Name": e["Name"], "Value": fill(e["Value"], item)} for e in stage["environment"]
            ],
        }
        for item in stage["items"] or ()
    ]


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


def oversized_tasks(plan: dict[str, Any]) -> list[Problem]:
    """Tasks whose command and environment would not fit one RunTask (``plan`` made with
    the longest execution name, as quotas.worst_plan makes it)."""
    problems = []
    for index, planned in enumerate(plan["stages"]):
        for position, task in enumerate(expand_stage(planned)):
            size = overrides_size(task)
            if size > OVERRIDES_CHARS:
                where = (
                    f"/stages/{index}/forEach/{position}"
                    if planned["items"] != [None]
                    else f"/stages/{index}/run"
                )
                problems.append(
                    Problem(
                        where,
                        f"this task's command and environment take {size} characters; "
                        f"ECS accepts at most {OVERRIDES_CHARS} in container overrides",
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
    run_bucket: str = RUN_BUCKET_PLACEHOLDER,
    default_capacity: str | None = None,
) -> dict[str, Any]:
    """The plan of a valid document (check it first with validation.check), every stage's
    items in it (see detach_items)."""
    timeout = document.get("timeoutSeconds", DEFAULT_JOB_TIMEOUT)
    return {
        "version": PLAN_VERSION,
        "job": document["job"],
        "execution": execution_name,
        "concurrency": document.get("concurrency", "forbid"),
        "notify": document.get("notify", "always"),
        "notifyLogLines": document.get("notifyLogLines", DEFAULT_LOG_LINES),
        "timeoutSeconds": timeout,
        "deadline": _epoch_ms(start_time) + timeout * 1000,
        "overlap": overlapping_execution is not None,
        "overlappingExecution": overlapping_execution,
        "lockHeld": False,  # prepare_job sets it when it took the job's lock
        "stages": [
            plan_stage(
                document, index, execution_name, retry_delay_seconds, run_bucket, default_capacity
            )
            for index in range(len(document["stages"]))
        ],
    }
