"""Commands that operate a deployed stack: start, watch, logs, status, history, stop, redrive.

Resources come from the stack's outputs (--stack or LONGJOB_STACK); credentials, region and
AWS_ENDPOINT_URL the usual boto3 way (--profile and --region override).
"""

from __future__ import annotations

import functools
import json
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click
from longjob_core.summary import human_duration

from longjob.errors import UserError
from longjob.report.history import HistoryReader, fetch_history, job_of, summary_of
from longjob.report.tables import render
from longjob.stack.deployed import Aws, AwsError, Stack, aws_errors, console_url


def stack_options(command: Callable[..., Any]) -> Callable[..., Any]:
    @click.option(
        "--stack",
        "stack_name",
        envvar="LONGJOB_STACK",
        required=True,
        help="The deployed longjob stack (or LONGJOB_STACK).",
    )
    @click.option("--profile", default=None, help="AWS profile (default: the usual boto3 chain).")
    @click.option("--region", default=None, help="AWS region (default: the profile's).")
    @functools.wraps(command)
    def wrapper(stack_name: str, profile: str | None, region: str | None, **kwargs: Any) -> Any:
        aws = Aws(profile, region)
        return command(aws=aws, stack=aws.stack(stack_name), **kwargs)

    return wrapper


def follow_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--follow and --poll, for the commands that start a run."""
    command = click.option(
        "--poll",
        type=click.FloatRange(min=0.1),
        default=2.0,
        show_default=True,
        help="With --follow: seconds between history reads.",
    )(command)
    return click.option("--follow", is_flag=True, help="Watch the run and exit with its code.")(
        command
    )


def _say(line: str) -> None:
    click.echo(line)


def execution_name(job: str, now: datetime | None = None) -> str:
    """A readable unique name: job, UTC time and a random suffix. (Step Functions allows 80
    characters, and treats a second start with the same name and input as the first one.)"""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)
    return f"{job[: 80 - len(stamp) - 1]}-{stamp}"


@aws_errors
def _start(aws: Aws, stack: Stack, document: dict[str, Any], name: str) -> str:
    return aws.sfn.start_execution(
        stateMachineArn=stack.state_machine_arn, name=name, input=json.dumps(document)
    )["executionArn"]


@aws_errors
def _watch(aws: Aws, stack: Stack, arn: str, poll: float = 2.0) -> int:
    from longjob.report.watcher import watch

    return watch(aws.sfn, aws.logs, arn, stack.log_group, _say, poll_seconds=poll)


def _announce(arn: str) -> None:
    click.echo(f"started {arn}")
    click.echo(f"console {console_url(arn)}")


class DocumentRefused(click.ClickException):
    """A job document that cannot run: its problems, exit 2, before any AWS call."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(self.message, err=True)


def _valid_document(_ctx: click.Context, _param: click.Parameter, path: str) -> dict[str, Any]:
    """Reads and checks the document while the command line is parsed: a bad document is
    refused offline, before the stack is looked up or anything starts."""
    from longjob.job_files import load_job

    try:
        return load_job(path)
    except UserError as error:
        raise DocumentRefused(str(error)) from None


@click.command()
@click.argument("document", metavar="JOB.json", callback=_valid_document)
@click.option("--name", default=None, help="Execution name (default: <job>-<UTC time>).")
@follow_options
@stack_options
def start(
    aws: Aws, stack: Stack, document: dict[str, Any], name: str | None, follow: bool, poll: float
) -> None:
    """Start a job on the stack. With --follow, exit 0 succeeded, 1 failed/timed out/aborted,
    3 skipped (another run of the job was in progress)."""
    arn = _start(aws, stack, document, name or execution_name(document["job"]))
    _announce(arn)
    if follow:
        sys.exit(_watch(aws, stack, arn))


@click.command()
@click.argument("execution")
@click.option(
    "--poll",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between history reads.",
)
@stack_options
def watch(aws: Aws, stack: Stack, execution: str, poll: float) -> None:
    """Follow an execution (ARN or name): stage progress and log lines, in order, until it
    ends. Exit 0 succeeded, 1 failed/timed out/aborted, 3 skipped."""
    sys.exit(_watch(aws, stack, stack.execution_arn(execution), poll))


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
    """All log lines of an execution, grouped by stage in plan order."""
    description, reader = _attempts(aws, stack.execution_arn(execution))
    stages = [s.get("name") for s in job_of(description).get("stages", [])]
    if stage is not None and stage not in stages:
        raise UserError(f"no stage {stage!r} in this job (stages: {', '.join(stages)})")
    groups = []
    for attempt in reader.in_plan_order(stages):
        if stage is not None and attempt.stage != stage:
            continue
        lines = _stream_lines(aws, stack.log_group, attempt.stream) if attempt.stream else []
        groups.append((attempt, lines))
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
            click.echo(f"== {current}")
        click.echo(f"[{attempt.label}] attempt {attempt.number}, task {attempt.task_id}")
        for line in lines:
            click.echo(f"[{attempt.label}] {line['message'].rstrip()}")


def _duration(description: dict[str, Any]) -> str:
    stop = description.get("stopDate") or datetime.now(UTC)
    return human_duration((stop - description["startDate"]).total_seconds())


def _failed_stage(summary: dict[str, Any] | None) -> tuple[str, str]:
    for stage in (summary or {}).get("stages", []):
        if stage.get("status") in {"FAILED", "TIMED_OUT"}:
            code = stage.get("exitCode")
            return stage["name"], "-" if code is None else str(code)
    return "-", "-"


@click.command()
@click.argument("execution")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@stack_options
def status(aws: Aws, stack: Stack, execution: str, as_json: bool) -> None:
    """An execution's status, duration and stages."""
    description, reader = _attempts(aws, stack.execution_arn(execution))
    summary = summary_of(description)
    job = job_of(description).get("job", "?")
    if as_json:
        click.echo(
            json.dumps(
                {
                    "name": description["name"],
                    "job": job,
                    "status": description["status"],
                    "jobStatus": (summary or {}).get("status"),
                    "startDate": description["startDate"],
                    "stopDate": description.get("stopDate"),
                    "summary": summary,
                },
                indent=2,
                default=str,
            )
        )
        return
    click.echo(
        f"execution {description['name']} (job {job}): {description['status']}"
        f"{'' if not summary else ' / ' + summary['status']}, {_duration(description)}"
    )
    if summary and summary.get("stages"):
        rows = [
            [
                s["name"],
                s.get("status", "?"),
                str(s.get("exitCode", "-") if s.get("exitCode") is not None else "-"),
                str(s.get("attempts", "-")),
                f"{s.get('succeeded', 0)}/{s['tasks']}" if s.get("tasks") else "-",
            ]
            for s in summary["stages"]
        ]
        render(["STAGE", "STATUS", "EXIT", "ATTEMPTS", "TASKS"], rows)
    elif reader.attempts:  # still running: what the history says so far
        rows = [
            [a.label, a.status, "-" if a.exit_code is None else str(a.exit_code), str(a.number)]
            for a in reader.attempts.values()
        ]
        render(["TASK", "STATUS", "EXIT", "ATTEMPT"], rows)


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
    """The latest runs: status, duration, failed stage, exit code."""
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
        ]
        for r in runs
    ]
    render(
        ["EXECUTION", "JOB", "STATUS", "STARTED (UTC)", "DURATION", "FAILED STAGE", "EXIT"], rows
    )


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
    stages from the first failed one on (the job's settings unchanged)."""
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
    resumed = {**document, "stages": document["stages"][names.index(failed) :]}
    arn = _start(aws, stack, resumed, execution_name(document["job"]))
    click.echo(
        f"resuming {document['job']} from stage {failed} "
        f"({len(resumed['stages'])} of {len(names)} stages)"
    )
    _announce(arn)
    if follow:
        sys.exit(_watch(aws, stack, arn, poll))


COMMANDS = [start, watch, logs, status, history, stop, redrive]
