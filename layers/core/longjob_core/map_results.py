"""A wide stage's record in the summary, from what its Distributed Map left behind.

A wide stage's items run as child executions, and their results go to S3 (the Map's
ResultWriter), not into the parent's state: 10,000 records would not fit a payload. The
"Read stage results" step (functions/stage_results) turns them into the same stage record an
inline stage builds in the ASL, plus the item counts: the Map Run's counts
(DescribeMapRun), and the first failures from the FAILED result files, each named by its
item and linked to its child execution. What it reads is bounded: the manifest and the
failed items' files, never the succeeded ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from longjob_core.contract import FARGATE_SPOT, SPOT_LOST_CODES
from longjob_core.summary import FAILURES_KEPT, ITEM_CHARS

MANIFEST = "manifest.json"
# The error a Distributed Map fails with when more items failed than it tolerates.
THRESHOLD_ERROR = "States.ExceedToleratedFailureThreshold"
_UNPRINTABLE = re.compile(r"[^ -~]")

Reader = Callable[[str, str], bytes]  # (bucket, key) -> the object's bytes
Lister = Callable[[str, str], list[str]]  # (bucket, prefix) -> keys


def printable(text: Any, limit: int) -> str:
    """As the ASL cuts a reason or an item: printable ASCII, at most ``limit`` characters."""
    return _UNPRINTABLE.sub("?", str(text))[:limit]


def _epoch_ms(value: Any) -> int | None:
    """A time of DescribeMapRun or a result entry (epoch seconds, ISO text or datetime)."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, int | float):
        return int(value * 1000) if value < 10**11 else int(value)
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            return None
    return None


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


def failure_of(entry: dict[str, Any], reason_chars: int) -> dict[str, Any]:
    """One failed child execution as a summary failure: the task's record when the child
    ended in "Item failed" (its cause), else the child's own error."""
    given = _json(entry.get("Input")) or {}
    item = given.get("item") if isinstance(given, dict) else None
    record = _json(entry.get("Cause"))
    if not (isinstance(record, dict) and "status" in record):
        error = entry.get("Error") or entry.get("Status") or "FAILED"
        record = {
            "status": "TIMED_OUT" if entry.get("Status") == "TIMED_OUT" else "FAILED",
            "exitCode": None,
            "reason": printable(f"{error}: {entry.get('Cause') or ''}".rstrip(": "), reason_chars),
            "attempts": None,
        }
    return {
        "item": None if item is None else printable(item, ITEM_CHARS),
        "status": record.get("status", "FAILED"),
        "exitCode": record.get("exitCode"),
        "stopCode": record.get("stopCode"),
        "reason": record.get("reason"),
        "attempts": record.get("attempts"),
        "taskId": record.get("taskId"),
        "execution": entry.get("ExecutionArn"),
        "startedAt": record.get("startedAt"),
        "stoppedAt": record.get("stoppedAt") or _epoch_ms(entry.get("StopDate")),
    }


# The succeeded items' result files are read for the cost only up to this size: about 30,000
# items' entries (each holds the child's input and output), well inside the function's memory.
SUCCEEDED_BYTES_READ = 48 * 1024 * 1024


def _record_of(output: Any) -> dict[str, Any] | None:
    """The parts of a child's task record the cost needs."""
    record = _json(output)
    if not isinstance(record, dict):
        return None
    keep = ("attempts", "runs", "cpu", "memory", "storageGiB")
    return {k: record[k] for k in keep if k in record}


def usage_of(name: str, records: list[Any]) -> dict[str, Any]:
    """What the children's task records say AWS bills (what an inline stage adds to the
    run's usage in the ASL): task runs, Spot runs lost, billed seconds per capacity provider,
    and the task size."""
    records = [r for r in records if isinstance(r, dict)]
    runs = [run for r in records for run in r.get("runs") or [] if isinstance(run, dict)]
    seconds: dict[str, int] = {}
    for run in runs:
        if run.get("capacity"):
            seconds[run["capacity"]] = seconds.get(run["capacity"], 0) + int(
                run.get("seconds") or 0
            )
    sized = next((r for r in records if r.get("cpu")), {})
    return {
        "name": name,
        "runs": sum(int(r.get("attempts") or 0) for r in records),
        "interrupted": sum(
            1
            for run in runs
            if run.get("capacity") == FARGATE_SPOT and run.get("stopCode") in SPOT_LOST_CODES
        ),
        "seconds": seconds,
        "cpu": sized.get("cpu"),
        "memory": sized.get("memory"),
        "storageGiB": sized.get("storageGiB"),
    }


def find_manifest(results: dict[str, str], list_keys: Lister) -> str | None:
    """The Map Run's manifest under the stage's result prefix (ResultWriter writes it under
    a folder named after the Map Run, which a failed Map does not tell)."""
    prefix = results["Prefix"].rstrip("/") + "/"
    keys = [k for k in list_keys(results["Bucket"], prefix) if k.endswith("/" + MANIFEST)]
    return sorted(keys)[-1] if keys else None


def stage_record(
    stage: dict[str, Any],
    map_error: dict[str, Any] | None,
    room: int,
    read: Reader,
    list_keys: Lister,
    describe_map_run: Callable[[str], dict[str, Any]],
    describe_execution: Callable[[str], dict[str, Any]],
) -> dict[str, Any]:
    """The wide stage's entry in the summary (the shape of an inline stage's, see
    docs/design.md §7, with ``mode``, ``failed``, ``notRun`` and ``mapRun``), and under
    ``usage`` what its tasks used, which the workflow moves to the run's usage."""
    results = stage["results"]
    manifest_key = find_manifest(results, list_keys)
    manifest = json.loads(read(results["Bucket"], manifest_key)) if manifest_key else {}
    map_run = manifest.get("MapRunArn")
    counts: dict[str, Any] = {}
    described: dict[str, Any] = {}
    if map_run:
        described = describe_map_run(map_run)
        counts = described.get("itemCounts") or {}
    failed_entries: list[dict[str, Any]] = []
    bucket = manifest.get("DestinationBucket", results["Bucket"])
    for file in (manifest.get("ResultFiles") or {}).get("FAILED") or []:
        # FAILED_n.json holds the failed, timed-out and aborted children; an aborted one
        # was stopped by the Map (too many failures, or the run stopped): not run to its end.
        failed_entries += [
            entry
            for entry in json.loads(read(bucket, file["Key"]))
            if entry.get("Status") in ("FAILED", "TIMED_OUT")
        ]
    succeeded_records: list[Any] = []
    succeeded_files = (manifest.get("ResultFiles") or {}).get("SUCCEEDED") or []
    # Read for what the tasks cost (each child's record: its runs), one file at a time, and
    # only while they fit the function's memory: past the budget the usage says so.
    complete = sum(int(f.get("Size") or 0) for f in succeeded_files) <= SUCCEEDED_BYTES_READ
    for file in succeeded_files if complete else []:
        entries = json.loads(read(bucket, file["Key"]))
        succeeded_records += [_record_of(e.get("Output")) for e in entries]
        del entries
    failed_entries.sort(key=lambda entry: _epoch_ms(entry.get("StopDate")) or 0)
    keep = max(0, min(room, FAILURES_KEPT))
    for entry in failed_entries[:keep]:
        if "Cause" not in entry and entry.get("ExecutionArn"):
            # AWS documents no failed entry; where it has no cause, the child execution has.
            child = describe_execution(entry["ExecutionArn"])
            entry.update(Error=child.get("error"), Cause=child.get("cause"))
    failures = [failure_of(entry, stage["reasonChars"]) for entry in failed_entries]
    succeeded = int(counts.get("succeeded", 0))
    failed = max(len(failures), int(counts.get("failed", 0)) + int(counts.get("timedOut", 0)))
    tasks = max(stage.get("itemCount") or 0, int(counts.get("total", 0)), succeeded + failed)
    if map_error is None:
        status = "SUCCEEDED"
    elif any(f["status"] == "TIMED_OUT" for f in failures) or counts.get("timedOut"):
        status = "TIMED_OUT"
    else:
        status = "FAILED"
    record: dict[str, Any] = {
        "name": stage["name"],
        "mode": "distributed",
        "status": status,
        "tasks": tasks,
        "succeeded": succeeded,
        "failed": failed,
        "notRun": max(0, tasks - succeeded - failed),
        "exitCode": 0 if status == "SUCCEEDED" else (failures[0]["exitCode"] if failures else None),
        "attempts": max((f["attempts"] for f in failures if f["attempts"]), default=None),
        "startedAt": _epoch_ms(described.get("startDate")),
        "stoppedAt": _epoch_ms(described.get("stopDate")),
        "taskId": None,
        "mapRun": map_run,
        "usage": {
            **usage_of(
                stage["name"], succeeded_records + [_json(e.get("Cause")) for e in failed_entries]
            ),
            **({} if complete else {"incomplete": "the succeeded items' results were not read"}),
        },
        "failures": [],
    }
    if map_error is not None and map_error.get("Error") != THRESHOLD_ERROR:
        # The Map itself failed (its items could not be read, a quota...): that is the
        # stage's first failure, with no item.
        failures.insert(
            0,
            {
                "item": None,
                "status": "FAILED",
                "exitCode": None,
                "reason": printable(
                    f"{map_error.get('Error')}: {map_error.get('Cause') or ''}".rstrip(": "),
                    stage["reasonChars"],
                ),
                "attempts": None,
                "mapRun": map_run,
            },
        )
    record["failures"] = [
        {k: v for k, v in f.items() if k not in ("startedAt", "stoppedAt")}
        for f in failures[: max(0, min(room, FAILURES_KEPT))]
    ]
    return record
