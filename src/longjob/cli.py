"""The ``longjob`` command line."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import click

from longjob import __version__

EXIT_FAILED = 1
EXIT_INVALID = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="longjob")
def main() -> None:
    """Run long, multi-stage maintenance jobs on AWS Fargate, chained by Step Functions."""


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint=option)
        pairs[key] = rest
    return pairs


def _read_json(path: str, what: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        return json.loads(text)
    except (OSError, json.JSONDecodeError) as error:
        raise click.BadParameter(f"{path}: {error}", param_hint=what) from None


def _duration(start: float | None, stop: float | None) -> str:
    if start is None or stop is None:
        return "-"
    return f"{stop - start:.1f}s"


def _print_report(result: Any) -> None:
    rows = [("TASK", "ATTEMPT", "EXIT", "STOP", "DURATION", "LOG")]
    for task in result.tasks:
        rows.append(
            (
                task.label,
                str(task.attempt),
                "-" if task.exit_code is None else str(task.exit_code),
                task.stop_code or "-",
                _duration(task.started_at, task.stopped_at),
                task.log_file,
            )
        )
    if len(rows) > 1:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        click.echo()
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            click.echo("  ".join([*cells, row[-1]]))
    for note in result.notifications:
        click.echo(f"\nnotification to {note.topic_arn}: {note.subject or ''}\n{note.message}")
    click.echo(f"\nexecution {result.execution_name}: {result.status}")
    if result.error:
        click.echo(f"error: {result.error}")
    if result.cause:
        click.echo(f"cause: {result.cause[:2000]}")
    if result.output is not None:
        click.echo(f"output: {json.dumps(result.output)[:2000]}")


@main.command()
@click.option(
    "--definition",
    "definition_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="State machine definition (Amazon States Language JSON).",
)
@click.option(
    "--input",
    "input_path",
    default=None,
    help="Execution input: a JSON file, or - for standard input (default: {}).",
)
@click.option(
    "--sub",
    "subs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Value of a ${KEY} DefinitionSubstitution (repeatable).",
)
@click.option(
    "--function",
    "functions",
    multiple=True,
    metavar="NAME=HANDLER",
    help="Lambda function NAME (or ARN) served by HANDLER: module:function or file.py:function.",
)
@click.option(
    "--runtime",
    type=click.Choice(["process", "podman", "docker"]),
    default="process",
    show_default=True,
    help="How ECS tasks run: the project's entrypoint as a process, or its image.",
)
@click.option("--image", default=None, help="Toolbox image for --runtime podman|docker.")
@click.option(
    "--project",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("."),
    help="Project folder (with container/); default: the current directory.",
)
@click.option(
    "--stop-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds between SIGTERM and SIGKILL when a task is stopped.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def run(
    definition_path: str,
    input_path: str | None,
    subs: tuple[str, ...],
    functions: tuple[str, ...],
    runtime: str,
    image: str | None,
    project: Path,
    stop_timeout: float,
    as_json: bool,
) -> None:
    """Run a state machine definition on this machine, ECS tasks and all.

    Exit code 0 when the execution succeeded, 1 when it failed, timed out or was
    aborted, 2 when the definition or input is invalid.
    """
    execution_input = {} if input_path is None else _read_json(input_path, "--input")
    substitutions = _pairs(subs, "--sub")
    handlers = _pairs(functions, "--function")
    definition = Path(definition_path).read_text()

    # Imported here: loading moto takes a second or two that other commands need not pay.
    from longjob.containers import DEFAULT_IMAGE
    from longjob.engine.exceptions import EngineError
    from longjob.engine.launchers import make_launcher
    from longjob.engine.local_engine import LocalEngine

    # With --json, stdout carries the document only: the tasks' lines go to stderr.
    live = sys.stderr if as_json else sys.stdout
    lock = threading.Lock()

    def on_line(task: Any, line: str) -> None:
        with lock:
            print(f"[{task.label}] {line}", file=live, flush=True)

    try:
        launcher = make_launcher(runtime, project, image or DEFAULT_IMAGE)
        with LocalEngine(
            project, launcher, functions=handlers, stop_timeout=stop_timeout, on_line=on_line
        ) as engine:
            result = engine.run(definition, execution_input, substitutions)
    except EngineError as error:
        click.echo(f"longjob: {error}", err=True)
        sys.exit(EXIT_INVALID)

    if as_json:
        document = {
            "status": result.status,
            "output": result.output,
            "error": result.error,
            "cause": result.cause,
            "executionArn": result.execution_arn,
            "history": result.history,
            "tasks": [vars(t) for t in result.tasks],
            "notifications": [vars(n) for n in result.notifications],
            "logDir": result.log_dir,
        }
        click.echo(json.dumps(document, indent=2))
    else:
        _print_report(result)
    sys.exit(0 if result.succeeded else EXIT_FAILED)
