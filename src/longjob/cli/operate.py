"""Commands that operate a deployed stack: start, watch, logs, status, history, stop, redrive,
approve.

Resources come from the stack's outputs (--stack or LONGJOB_STACK); credentials, region and
AWS_ENDPOINT_URL the usual boto3 way (--profile and --region override).
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click
from longjob_core.console_links import execution_url
from longjob_core.contract import ANSWER_COMMENT_CHARS, FAILED_STAGE
from longjob_core.cost import usd
from longjob_core.summary import (
    align,
    exit_text,
    human_duration,
    stage_table,
    table_notes,
    tasks_text,
)
from longjob_core.summary import failure_details as summary_failures

from longjob.cli.options import (
    follow_options,
    say,
    say_on_stderr,
    stack_options,
    valid_document,
)
from longjob.errors import UserError
from longjob.report.approvals import GateReader, gate_lines
from longjob.report.history import Attempt, HistoryReader, fetch_history, job_of, summary_of
from longjob.report.map_runs import MapRunProgress
from longjob.stack.deployed import Aws, AwsError, Stack, aws_errors


def execution_name(job: str, now: datetime | None = None) -> str:
    """A readable unique name: job, UTC time and a random suffix. (Step Functions allows 80
    characters, and treats a second start with the same name and input as the first one.)"""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)
    return f"{job[: 80 - len(stamp) - 1]}-{stamp}"


@aws_errors
def start_run(
    aws: Aws,
    stack: Stack,
    document: dict[str, Any],
    name: str | None,
    test_case: str | None = None,
) -> str:
    """Starts a run of a (valid) document on the stack; its execution ARN. A ``test_case``
    of a mock configuration is started as Step Functions Local starts one (ARN#case)."""
    machine = stack.state_machine_arn + (f"#{test_case}" if test_case else "")
    return aws.sfn.start_execution(
        stateMachineArn=machine,
        name=name or execution_name(document["job"]),
        input=json.dumps(document),
    )["executionArn"]


@aws_errors
def follow_run(
    aws: Aws,
    stack: Stack,
    arn: str,
    poll: float = 2.0,
    live_tail: bool = True,
    say_line: Callable[[str], None] = say,
    on_interrupt: Callable[[int], None] | None = None,
    log_file: Callable[[str], str | None] | None = None,
    on_gate: Callable[[Any], None] | None = None,
) -> int:
    """Follows a run to its end and prints its report; the run's exit code. At an approval
    stage it shows how to answer, or calls ``on_gate`` (report.approvals.Gate)."""
    from longjob.report.watcher import watch as watch_run

    return watch_run(
        aws.sfn,
        aws.logs,
        arn,
        stack.log_group,
        say_line,
        poll_seconds=poll,
        live_tail=live_tail,
        on_interrupt=on_interrupt,
        details=failure_details(aws, stack, log_file),
        on_gate=on_gate,
        stack_name=stack.name,
    )


def failure_details(
    aws: Aws, stack: Stack, log_file: Callable[[str], str | None] | None = None
) -> Any:
    """How reports of this stack explain failures: its task log group, its region."""
    from longjob.report.watcher import FailureDetails

    return FailureDetails(aws.logs, stack.log_group, stack.region, log_file)


@aws_errors
def describe(aws: Aws, arn: str) -> dict[str, Any]:
    return aws.sfn.describe_execution(executionArn=arn)


def print_document(
    aws: Aws,
    stack: Stack,
    arn: str,
    extra: dict[str, Any] | None = None,
    log_file: Callable[[str], str | None] | None = None,
) -> None:
    from longjob.report.watcher import run_document

    details = failure_details(aws, stack, log_file)
    document = {**run_document(describe(aws, arn), details), **(extra or {})}
    click.echo(json.dumps(document, indent=2, default=str))


def announce(arn: str, say_line: Callable[[str], None] = say, console: bool = True) -> None:
    say_line(f"started {arn}")
    if console:
        say_line(f"console {execution_url(arn)}")


@click.command()
@click.argument("document", metavar="JOB.json", callback=valid_document)
@click.option("--name", default=None, help="Execution name (default: <job>-<UTC time>).")
@follow_options
@stack_options
def start(
    aws: Aws, stack: Stack, document: dict[str, Any], name: str | None, follow: bool, poll: float
) -> None:
    """Start a job on the stack. With --follow, watch it and exit with its code: 0
    succeeded, 1 failed/timed out/aborted, 2 invalid, 3 skipped (another run of the job was
    in progress)."""
    arn = start_run(aws, stack, document, name)
    announce(arn, console=aws.endpoint is None)  # a local stack has no console
    if follow:
        sys.exit(follow_run(aws, stack, arn, poll))


@click.command()
@click.argument("execution")
@click.option(
    "--poll",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between history reads.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Progress on stderr, the run's document on stdout."
)
@stack_options
def watch(aws: Aws, stack: Stack, execution: str, poll: float, as_json: bool) -> None:
    """Follow an execution (ARN or name): stage progress and log lines, in order, until it
    ends. Exit 0 succeeded, 1 failed/timed out/aborted, 2 invalid, 3 skipped."""
    arn = stack.execution_arn(execution)
    code = follow_run(aws, stack, arn, poll, say_line=say_on_stderr if as_json else say)
    if as_json:
        print_document(aws, stack, arn)
    sys.exit(code)


@aws_errors
def _attempts(aws: Aws, arn: str) -> tuple[dict[str, Any], HistoryReader]:
    description = aws.sfn.describe_execution(executionArn=arn)
    reader = HistoryReader()
    reader.feed(fetch_history(aws.sfn, arn))
    return description, reader


@aws_errors
def _stream_lines(aws: Aws, log_group: str, stream: str) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    paginator = aws.logs.get_paginator("filter_log_events")
    try:
        for page in paginator.paginate(logGroupName=log_group, logStreamNames=[stream]):
            lines += [
                {"timestamp": e["timestamp"], "message": e["message"]} for e in page["events"]
            ]
    except aws.logs.exceptions.ResourceNotFoundException:
        return []  # the task never logged a line
    return lines


@click.command()
@click.argument("execution")
@click.option("--stage", default=None, help="Only this stage.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@stack_options
def logs(aws: Aws, stack: Stack, execution: str, stage: str | None, as_json: bool) -> None:
    """All log lines of an execution, grouped by stage in plan order.

    A wide stage's tasks run in child executions: its failed items' lines are shown (the
    summary names them); the others' are in the log group, one stream per task."""
    description, reader = _attempts(aws, stack.execution_arn(execution))
    stages = [s.get("name") for s in job_of(description).get("stages", [])]
    if stage is not None and stage not in stages:
        raise UserError(f"no stage {stage!r} in this job (stages: {', '.join(stages)})")
    groups = []
    wide_counts: dict[str, str] = {}
    for attempt in reader.in_plan_order(stages):
        if stage is not None and attempt.stage != stage:
            continue
        lines = _stream_lines(aws, stack.log_group, attempt.stream) if attempt.stream else []
        groups.append((attempt, lines))
    for wide in (summary_of(description) or {}).get("stages", []):
        if wide.get("mode") != "distributed" or stage not in (None, wide["name"]):
            continue
        wide_counts[wide["name"]] = (
            f" (wide stage, items succeeded: {tasks_text(wide)}; the failed items' lines "
            "follow, the others are in the log group)"
        )
        for failure in wide.get("failures") or []:
            if failure.get("taskId"):
                attempt = failed_item_attempt(wide["name"], failure)
                groups.append((attempt, _stream_lines(aws, stack.log_group, attempt.stream)))
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "stage": a.stage,
                        "item": a.item,
                        "attempt": a.number,
                        "taskId": a.task_id,
                        "status": a.status,
                        "exitCode": a.exit_code,
                        "lines": lines,
                    }
                    for a, lines in groups
                ],
                indent=2,
            )
        )
        return
    current = None
    for attempt, lines in groups:
        if attempt.stage != current:
            current = attempt.stage
            click.echo(f"== {current}{wide_counts.get(current, '')}")
        click.echo(f"[{attempt.label}] attempt {attempt.number}, task {attempt.task_id}")
        for line in lines:
            click.echo(f"[{attempt.label}] {line['message'].rstrip()}")


def failed_item_attempt(stage: str, failure: dict[str, Any]) -> Attempt:
    """A wide stage's failed item, as the summary names it, in the shape of an attempt."""
    return Attempt(
        stage=stage,
        item=failure.get("item"),
        number=int(failure.get("attempts") or 1),
        scheduled_id=0,
        task_arn=f"task/{failure['taskId']}",
        status=failure.get("status") or "FAILED",
        exit_code=failure.get("exitCode"),
    )


def _duration(description: dict[str, Any]) -> str:
    stop = description.get("stopDate") or datetime.now(UTC)
    return human_duration((stop - description["startDate"]).total_seconds())


def _failed_stage(summary: dict[str, Any] | None) -> tuple[str, str]:
    for stage in (summary or {}).get("stages", []):
        if stage.get("status") in FAILED_STAGE:
            return stage["name"], exit_text(stage.get("exitCode"))
    return "-", "-"


@click.command()
@click.argument("execution")
@click.option("--json", "as_json", is_flag=True, help="The run's document on stdout.")
@stack_options
def status(aws: Aws, stack: Stack, execution: str, as_json: bool) -> None:
    """An execution's status, duration and stages."""
    from longjob.report.watcher import explained_summary, run_document

    description, reader = _attempts(aws, stack.execution_arn(execution))
    details = failure_details(aws, stack)
    if as_json:
        click.echo(json.dumps(run_document(description, details), indent=2, default=str))
        return
    summary = explained_summary(description, details)
    job = job_of(description).get("job", "?")
    click.echo(
        f"execution {description['name']} (job {job}): {description['status']}"
        f"{'' if not summary else ' / ' + summary['status']}, {_duration(description)}"
    )
    if summary and summary.get("stages"):
        lines = stage_table(summary["stages"], summary.get("cost")) + table_notes(summary)
        for line in lines + summary_failures(summary):
            click.echo(line)
    elif reader.attempts:  # still running: what the history says so far
        rows = [
            [a.label, a.status, exit_text(a.exit_code), str(a.number)]
            for a in reader.attempts.values()
        ]
        for line in align([["TASK", "STATUS", "EXIT", "ATTEMPT"], *rows]):
            click.echo(line)
    if not summary:  # a wide stage running: its items' counts
        progress = MapRunProgress(aws.sfn, every_seconds=0)
        progress.feed(list(reader.events.values()))  # the history _attempts read
        for name, line in progress.poll():
            click.echo(f"{name}: {line}")
        gates = GateReader()
        gates.feed(list(reader.events.values()))
        if gates.open is not None and description["status"] == "RUNNING":
            for line in gate_lines(gates.open, description["name"], stack.name):
                click.echo(f"{gates.open.stage}: {line}")


@aws_errors
def _runs(aws: Aws, stack: Stack, job: str | None, limit: int) -> list[dict[str, Any]]:
    runs = []
    paginator = aws.sfn.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=stack.state_machine_arn):
        for execution in page["executions"]:
            description = aws.sfn.describe_execution(executionArn=execution["executionArn"])
            name = job_of(description).get("job", "?")
            if job is not None and name != job:
                continue
            summary = summary_of(description)
            failed, code = _failed_stage(summary)
            runs.append(
                {
                    "name": description["name"],
                    "job": name,
                    "status": description["status"],
                    "jobStatus": (summary or {}).get("status", description["status"]),
                    "startDate": description["startDate"],
                    "duration": _duration(description),
                    "failedStage": failed,
                    "exitCode": code,
                    "cost": ((summary or {}).get("cost") or {}).get("total"),
                    "executionArn": execution["executionArn"],
                }
            )
            if len(runs) >= limit:
                return runs
    return runs


@click.command()
@click.option("--job", default=None, help="Only runs of this job.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@stack_options
def history(aws: Aws, stack: Stack, job: str | None, limit: int, as_json: bool) -> None:
    """The latest runs: status, duration, failed stage, exit code, cost (an estimate)."""
    runs = _runs(aws, stack, job, limit)
    if as_json:
        click.echo(json.dumps(runs, indent=2, default=str))
        return
    rows = [
        [
            r["name"],
            r["job"],
            r["jobStatus"],
            r["startDate"].strftime("%Y-%m-%d %H:%M:%S"),
            r["duration"],
            r["failedStage"],
            r["exitCode"],
            usd(r["cost"]),
        ]
        for r in runs
    ]
    header = [
        "EXECUTION", "JOB", "STATUS", "STARTED (UTC)", "DURATION", "FAILED STAGE", "EXIT", "COST",
    ]  # fmt: skip
    for line in align([header, *rows]):
        click.echo(line)


@click.command()
@click.argument("execution")
@stack_options
@aws_errors
def stop(aws: Aws, stack: Stack, execution: str) -> None:
    """Stop an execution; Step Functions stops its running tasks (SIGTERM, then SIGKILL)."""
    arn = stack.execution_arn(execution)
    aws.sfn.stop_execution(
        executionArn=arn, error="longjob.Stopped", cause="stopped with longjob stop"
    )
    click.echo(f"stopped {arn}")


@click.command()
@click.argument("execution")
@follow_options
@stack_options
def redrive(aws: Aws, stack: Stack, execution: str, follow: bool, poll: float) -> None:
    """Resume a failed run from its failed stage: a new run of the same document with the
    stages from the first failed one on (the job's settings unchanged). The last approval
    stage before it is asked again first: its answer was given for the failed run."""
    description, _ = _attempts(aws, stack.execution_arn(execution))
    if description["status"] == "RUNNING":
        raise AwsError(f"{description['name']} is still running")
    document = job_of(description)
    summary = summary_of(description)
    failed, _ = _failed_stage(summary)
    if failed == "-":
        raise AwsError(
            f"{description['name']} has no failed stage to resume from "
            f"({(summary or {}).get('status', description['status'])})"
        )
    names = [s["name"] for s in document["stages"]]
    start = names.index(failed)
    # The last approval before the failed stage is asked again: the new run does what the
    # earlier answer allowed, and its approver may see things differently now. (A rejected
    # run starts at its approval stage, which asks anyway.)
    earlier = [] if "approval" in document["stages"][start] else document["stages"][:start]
    gate = next((s for s in reversed(earlier) if "approval" in s), None)
    # The failed run's checkpoints (its first run's, if it was a redrive itself): the stages
    # run again resume where their tasks stopped, unless a stage says resume: false.
    resumed = {
        **document,
        "checkpointsFrom": document.get("checkpointsFrom", description["name"]),
        "stages": ([gate] if gate else []) + document["stages"][start:],
    }
    arn = start_run(aws, stack, resumed, None)
    again = f", asking {gate['name']} again first" if gate else ""
    click.echo(
        f"resuming {document['job']} from stage {failed} "
        f"({len(names) - start} of {len(names)} stages{again})"
    )
    announce(arn, console=aws.endpoint is None)  # a local stack has no console
    if follow:
        sys.exit(follow_run(aws, stack, arn, poll))


@click.command()
@click.argument("execution")
@click.option(
    "--reject",
    is_flag=True,
    help="Reject: the run ends REJECTED (later stages skipped, except `always` ones).",
)
@click.option(
    "--comment",
    default="",
    help=f"Why, kept in the run's summary (at most {ANSWER_COMMENT_CHARS} characters).",
)
@click.option(
    "--stage",
    default=None,
    help="Answer only if the run waits at this stage (the request's commands name it): an "
    "answer meant for one approval never reaches a later one.",
)
@stack_options
def approve(
    aws: Aws, stack: Stack, execution: str, reject: bool, comment: str, stage: str | None
) -> None:
    """Answer the approval stage an execution (ARN or name) waits at: approve it, so the next
    stage starts, or --reject it. Who answered (your identity, from STS) and the comment go
    into the run's summary and notification."""
    from longjob.stack.approvals import APPROVE_WAIT_SECONDS, answer, comment_problem

    problem = comment_problem(comment)
    if problem:
        raise click.BadParameter(problem, param_hint="--comment")
    answered = answer(
        aws,
        stack,
        stack.execution_arn(execution),
        not reject,
        comment,
        wait_seconds=APPROVE_WAIT_SECONDS,
        stage=stage,
    )
    verb = "approved" if answered.approved else "rejected"
    click.echo(f"{verb} stage {answered.stage} of {answered.execution} as {answered.by}")
