"""`longjob run`: a job document (or any definition) run on the local engine, and its report."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from longjob_core.summary import failure_details, human_duration, stage_table, summary_from

from longjob.engine.exceptions import RunInterrupted
from longjob.errors import EXIT_FAILED, EXIT_INVALID, UserError

DEFAULT_STOP_TIMEOUT = 30.0


@dataclass
class LocalRunOptions:
    project: Path
    runtime: str = "process"
    image: str | None = None
    substitutions: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    application: Any = None  # the project's LocalApplication, for a job run
    stop_timeout: float | None = None
    as_json: bool = False


def read_secrets(path: str) -> dict[str, str]:
    """``{"ssm:/path": "value", "secretsmanager:name": "value"}`` from a local file."""
    from longjob.job_files import read_json

    secrets = read_json(path)
    if not isinstance(secrets, dict):
        raise UserError(f"{path}: must be a JSON object of reference -> value")
    for reference, value in secrets.items():
        if not (reference.startswith("ssm:/") or reference.startswith("secretsmanager:")):
            raise UserError(f"{path}: {reference!r} is not ssm:/path or secretsmanager:name")
        if not isinstance(value, str):
            raise UserError(f"{path}: the value of {reference!r} must be a string")
    return secrets


def seed_secrets(engine: Any, secrets: dict[str, str]) -> None:
    """Stores the secrets in the embedded SSM / Secrets Manager the tasks resolve against."""
    ssm = engine.aws_client("ssm")
    secretsmanager = engine.aws_client("secretsmanager")
    for reference, value in secrets.items():
        if reference.startswith("ssm:"):
            ssm.put_parameter(
                Name=reference[len("ssm:") :], Value=value, Type="SecureString", Overwrite=True
            )
        else:
            secretsmanager.create_secret(
                Name=reference[len("secretsmanager:") :], SecretString=value
            )


def job_summary(result: Any) -> dict[str, Any] | None:
    """The job's summary: the output of a succeeded run, the cause of a failed one."""
    return summary_from(result.output, result.cause)


def result_document(result: Any, output: Any) -> dict[str, Any]:
    return {
        "status": result.status,
        "output": output,
        "error": result.error,
        "cause": result.cause,
        "executionArn": result.execution_arn,
        "history": result.history,
        "tasks": [vars(t) for t in result.tasks],
        "notifications": [
            {k: v for k, v in vars(n).items() if k != "received_at"} for n in result.notifications
        ],
        "logDir": result.log_dir,
    }


def task_table(result: Any) -> list[str]:
    rows = [("TASK", "ATTEMPT", "EXIT", "STOP", "DURATION", "LOG")]
    for task in result.tasks:
        rows.append(
            (
                task.label,
                str(task.attempt),
                "-" if task.exit_code is None else str(task.exit_code),
                task.stop_code or "-",
                human_duration(
                    None if task.stopped_at is None else task.stopped_at - (task.started_at or 0)
                ),
                task.log_file,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]


def print_definition_report(result: Any, out: IO[str]) -> None:
    if result.tasks:
        print("", *task_table(result), sep="\n", file=out)
    for note in result.notifications:
        print(f"\nnotification to {note.topic_arn}: {note.subject or ''}", file=out)
        print(note.message, file=out)
    print(f"\nexecution {result.execution_name}: {result.status}", file=out)
    if result.error:
        print(f"error: {result.error}", file=out)
    if result.cause:
        print(f"cause: {result.cause[:2000]}", file=out)
    if result.output is not None:
        print(f"output: {json.dumps(result.output)[:2000]}", file=out)


def print_job_report(result: Any, summary: dict[str, Any] | None, out: IO[str]) -> None:
    """The notification, what failed, where the logs are, the outcome; the stage table last,
    so it is what stays on screen."""
    if summary is None:  # the workflow itself broke: show what the execution says
        print_definition_report(result, out)
        return
    for note in result.notifications:
        print(f"\nnotification to {note.topic_arn}:", file=out)
        print(f"  Subject: {note.subject}", file=out)
        for line in note.message.rstrip("\n").splitlines():
            print(f"  {line}".rstrip(), file=out)
    if summary.get("notification", "").startswith("failed"):
        print(f"\nnotification {summary['notification']}", file=out)
    for line in failure_details({**summary, "logGroup": None}):
        print(line, file=out)
    if summary.get("reason"):
        print(f"\n{summary['reason']}", file=out)
    if summary.get("status") == "INVALID" and summary.get("cause"):
        print(f"\n{summary['cause']}", file=out)
    print(f"\nlogs: {result.log_dir}", file=out)
    print(f"job {summary.get('job')}: {summary.get('status')} ({result.execution_name})", file=out)
    if summary.get("stages"):
        print("", *stage_table(summary["stages"]), sep="\n", file=out)


def job_exit_code(summary: dict[str, Any] | None, result: Any) -> int:
    status = summary.get("status") if summary else None
    if status in {"SUCCEEDED", "SKIPPED"}:
        return 0
    if status == "INVALID":
        return EXIT_INVALID
    return 0 if summary is None and result.succeeded else EXIT_FAILED


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP stop the run the way Ctrl-C does (tasks stopped, containers
    removed, execution ABORTED) instead of killing this process and orphaning its tasks."""

    def interrupt(signum: int, _frame: object) -> None:
        raise RunInterrupted(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_locally(
    options: LocalRunOptions,
    definition: str,
    execution_input: Any,
    job: bool,
) -> int:
    """Runs one execution and prints it; returns the exit code."""
    # Imported here: loading moto takes a second or two that other commands need not pay.
    from longjob.containers import DEFAULT_IMAGE
    from longjob.engine.exceptions import EngineError
    from longjob.engine.launchers import make_launcher
    from longjob.engine.local_engine import LocalEngine

    out = sys.stdout
    stack = contextlib.ExitStack()
    # With --json, stdout carries the document only: the tasks' lines go to stderr.
    live = sys.stderr if options.as_json else sys.stdout
    lock = threading.Lock()

    def on_line(task: Any, line: str) -> None:
        with lock:
            print(f"[{task.label}] {line}", file=live, flush=True)

    try:
        launcher = make_launcher(options.runtime, options.project, options.image or DEFAULT_IMAGE)
        stack.enter_context(stop_on_signals())
        with LocalEngine(
            options.project,
            launcher,
            functions=options.functions,
            stop_timeout=options.stop_timeout or DEFAULT_STOP_TIMEOUT,
            on_line=on_line,
        ) as engine:
            seed_secrets(engine, options.secrets)
            s3 = engine.aws_client("s3")
            if options.application is not None:  # the stack's resources exist before any run
                options.application.create_buckets(s3)
                options.application.create_tables(engine.aws_client("dynamodb"))
            result = engine.run(definition, execution_input, options.substitutions)
    except EngineError as error:
        raise UserError(str(error)) from None
    finally:
        stack.close()

    if result.interrupted is not None:
        # Stopped like Ctrl-C: tasks stopped, execution ABORTED; the shell's code for it.
        code = 128 + result.interrupted
        print_definition_report(result, out)
        return code
    if not job:
        if options.as_json:
            print(json.dumps(result_document(result, result.output), indent=2), file=out)
        else:
            print_definition_report(result, out)
        return 0 if result.succeeded else EXIT_FAILED
    summary = job_summary(result)
    if options.as_json:
        print(json.dumps(result_document(result, summary or result.output), indent=2), file=out)
    else:
        print_job_report(result, summary, out)
    return job_exit_code(summary, result)
