"""How a run's summary reads, in a notification and on the command line.

The summary is built by the state machine (see statemachine/job.asl.json, "Run stage"):
job, execution, status, error, reason/cause, and one entry per stage with its status, exit
code, attempts, task counts, start/stop times (epoch ms) and its first failures. What it
keeps is bounded, so that it fits a failed execution's cause whatever the fan-out: the
constants below are the workflow's, and a test checks that the ASL uses the same numbers.
"""

from __future__ import annotations

import json
import re
from typing import Any

from longjob_core.contract import (
    APPROVAL_MODE,
    APPROVED,
    FAILED_STAGE,
    REJECTED,
    SPOT_THEN_ON_DEMAND,
    stream_of,
)
from longjob_core.cost import cost_line, usd
from longjob_core.explanations import explain
from longjob_core.limits import SNS_SUBJECT_CHARS

FAILURES_KEPT = 5  # failed tasks described in full, per run: the first ones; the rest counted
ITEM_CHARS = 100  # a failed item's text in the summary (the rest is in the plan)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def clean(value: Any) -> Any:
    """The summary with every text on one line and free of control characters: an item,
    a reason or a field name comes from the job or the task, and must neither add lines to
    a message nor send escape sequences to a terminal."""
    if isinstance(value, str):
        return _CONTROL.sub(" ", value)
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    return value


def human_duration(seconds: float | None) -> str:
    """12s, 4m03s, 2h00m05s; "-" when unknown."""
    if seconds is None:
        return "-"
    hours, rest = divmod(max(0, round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def duration(stage: dict[str, Any]) -> str:
    start, stop = stage.get("startedAt"), stage.get("stoppedAt")
    if not isinstance(start, int | float) or not isinstance(stop, int | float):
        return "-"
    return human_duration((stop - start) / 1000)


def summary_from(output: Any, cause: str | None = None) -> dict[str, Any] | None:
    """A run's summary: its output when it succeeded, the Fail state's cause when it failed
    (either may be JSON text or already parsed); None when neither is a summary."""
    for value in (output, cause):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        if isinstance(value, dict) and "status" in value and "stages" in value:
            return value
    return None


def exit_text(code: int | None) -> str:
    """An exit code in a table: "-" when there is none."""
    return "-" if code is None else str(code)


def align(rows: list[list[str]] | list[tuple[str, ...]]) -> list[str]:
    """Rows as left-aligned columns two spaces apart (the first row is the header): every
    table longjob prints or sends."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def subject(summary: dict[str, Any]) -> str:
    summary = clean(summary)
    text = f"[longjob] {summary.get('job', '?')} {summary.get('status', '?')}"
    failed = [s for s in summary.get("stages", []) if s.get("status") in FAILED_STAGE]
    if failed:
        first = failed[0]
        text += f": {first['name']} {first['status'].lower().replace('_', ' ')}"
        if first.get("exitCode") not in (None, 0):
            text += f" (exit {first['exitCode']})"
    return cut_subject(text)


def cut_subject(text: str) -> str:
    """SNS refuses a subject of 100 characters or more, or with a line break or a control
    character: the notification would be lost."""
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= SNS_SUBJECT_CHARS else text[: SNS_SUBJECT_CHARS - 1] + "…"


def body(summary: dict[str, Any]) -> str:
    summary = clean(summary)
    lines = [
        f"Job {summary.get('job', '?')}: {summary.get('status', '?')}",
        f"Execution: {summary.get('execution', '?')}",
    ]
    if summary.get("reason"):
        lines.append(f"Reason: {summary['reason']}")
    stages = summary.get("stages", [])
    if stages:
        lines.append("")
        lines += stage_table(stages, summary.get("cost"))
    lines += table_notes(summary)
    lines += failure_details(summary)
    if summary.get("cause"):
        lines += ["", str(summary["cause"])[:4000]]
    return "\n".join(lines) + "\n"


def stage_table(stages: list[dict[str, Any]], cost: dict[str, Any] | None = None) -> list[str]:
    """One aligned line per stage, under a header; with the run's cost, a COST column."""
    stages = clean(stages)
    costs = list((cost or {}).get("stages") or [])  # USD per stage, in the stages' order
    costs += [None] * (len(stages) - len(costs))
    rows = [("STAGE", "STATUS", "EXIT", "ATTEMPTS", "TASKS", "DURATION", "COST")]
    for stage, stage_cost in zip(stages, costs, strict=False):
        tasks = stage.get("tasks")
        rows.append(
            (
                stage["name"],
                stage.get("status", "?"),
                exit_text(stage.get("exitCode")),
                attempts_text(stage),
                tasks_text(stage) if tasks else "-",
                duration(stage),
                usd(stage_cost),
            )
        )
    if cost is None:
        rows = [row[:-1] for row in rows]
    return align(rows)


def attempts_text(stage: dict[str, Any]) -> str:
    """The attempts, and how many Fargate Spot took back (a one-task stage)."""
    text = exit_text(stage.get("attempts"))
    lost = len((stage.get("spotLost") or {}).get("attempts") or [])
    return text + (f" ({lost} Spot lost)" if lost else "")


def placement_text(stage: dict[str, Any]) -> str | None:
    """Where a one-task stage's attempts ran when Spot took one back: "attempt 1 on Spot
    (interrupted), attempt 2 on demand". spot-then-on-demand runs on Spot until the first
    loss, then on demand; spot runs every attempt on Spot."""
    spot_lost = stage.get("spotLost") or {}
    lost = [n for n in spot_lost.get("attempts") or [] if isinstance(n, int)]
    attempts = stage.get("attempts")
    if not lost or not isinstance(attempts, int):
        return None
    falls_back = spot_lost.get("capacity") == SPOT_THEN_ON_DEMAND
    return ", ".join(
        f"attempt {n} "
        + ("on demand" if falls_back and n > lost[0] else "on Spot")
        + (" (interrupted)" if n in lost else "")
        for n in range(1, attempts + 1)
    )


def table_notes(summary: dict[str, Any]) -> list[str]:
    """Under the stage table: where Spot attempts ran, who answered the approval stages,
    which stages resumed from their checkpoints, and the run's cost line."""
    summary = clean(summary)
    lines = []
    stages = summary.get("stages") or []
    for stage in stages:
        placed = placement_text(stage)
        if placed:
            lines.append(f"{stage['name']}: {placed}")
    for stage in stages:
        answered = approval_text(stage)
        if answered:
            lines.append(answered)
    resumed = summary.get("resumed") or []
    for stage, count in zip(stages, resumed, strict=False):
        if isinstance(count, int) and count > 0:
            lines.append(f"{stage['name']}: {count} attempt(s) resumed from a checkpoint")
    if summary.get("cost") and summary.get("stages"):
        lines.append(cost_line(summary["cost"]))
    return ([""] if lines else []) + lines


def approval_text(stage: dict[str, Any]) -> str | None:
    """How an approval stage ended: who approved or rejected it and their comment, or why
    it got no answer."""
    if stage.get("mode") != APPROVAL_MODE:
        return None
    answer = stage.get("answer") or {}
    if stage.get("status") not in (APPROVED, REJECTED):
        return f"{stage['name']}: {stage['reason']}" if stage.get("reason") else None
    verb = "approved" if stage["status"] == APPROVED else "rejected"
    comment = f': "{answer["comment"]}"' if answer.get("comment") else ""
    return f"{stage['name']}: {verb} by {answer.get('by') or '?'}{comment}"


def tasks_text(stage: dict[str, Any]) -> str:
    """succeeded/tasks; for a wide stage also how many items failed or never ran."""
    text = f"{stage.get('succeeded', 0)}/{stage['tasks']}"
    others = [
        f"{stage[key]} {words}"
        for key, words in (("failed", "failed"), ("notRun", "not run"))
        if stage.get(key)
    ]
    return text + (f" ({', '.join(others)})" if others else "")


def failure_details(summary: dict[str, Any]) -> list[str]:
    """What failed, why in plain words, what to try, its last log lines and where the rest
    is: a block per failure, after the stage table (see failure_reports for the fields)."""
    summary = clean(summary)
    lines: list[str] = []
    log_group = summary.get("logGroup")
    for stage in summary.get("stages", []):
        for failure in stage.get("failures") or []:
            where = stage["name"] + (f" [{failure['item']}]" if failure.get("item") else "")
            exit_code = failure.get("exitCode")
            lines.append("")
            lines.append(
                f"{where}: {failure.get('status')}"
                + ("" if exit_code is None else f", exit code {exit_code}")
                + f", {failure.get('attempts', 1)} attempt(s)"
            )
            explanation = explain(failure)
            lines.append(f"  {failure.get('explanation') or explanation.reason}")
            hint = failure.get("hint", explanation.hint)
            if hint:
                lines.append(f"  hint: {hint}")
            detail = failure.get("reason") or failure.get("error")
            if detail:
                lines.append(f"  reason: {str(detail)[:500]}")
            log_lines = failure.get("logLines") or []
            if log_lines:
                lines.append(f"  last {len(log_lines)} log line(s):")
                lines += [f"  | {line}" for line in log_lines]
            if failure.get("logError"):
                lines.append(f"  ({failure['logError']})")
            if failure.get("executionUrl") or failure.get("execution"):
                lines.append(
                    f"  item's execution: {failure.get('executionUrl') or failure['execution']}"
                )
            if failure.get("logFile"):
                lines.append(f"  log file: {failure['logFile']}")
            elif failure.get("logUrl"):
                lines.append(f"  log: {failure['logUrl']}")
            elif failure.get("taskId") and log_group:
                lines.append(f"  logs: {log_group}, stream {stream_of(failure['taskId'])}")
    if summary.get("logsInsightsUrl"):
        lines += ["", f"Logs Insights, the run's time: {summary['logsInsightsUrl']}"]
    return lines
