"""The ``longjob`` command line."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from longjob import __version__
from longjob.errors import UserError


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """A UserError becomes its message on stderr and its exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except UserError as error:
            click.echo(f"longjob: {error}" if error.prefixed else str(error), err=True)
            sys.exit(error.exit_code)

    return wrapper


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


@main.command()
@click.argument("documents", nargs=-1, required=True, metavar="JOB.json...")
@reports_errors
def validate(documents: tuple[str, ...]) -> None:
    """Check job documents; list every problem (JSON pointer: rule). Exit 2 if any."""
    from longjob.job_files import InvalidDocument, load_job

    failed = False
    for path in documents:
        try:
            document = load_job(path)
        except InvalidDocument as error:
            click.echo(str(error), err=True)
            failed = True
            continue
        except UserError as error:
            click.echo(str(error), err=True)
            failed = True
            continue
        stages = len(document["stages"])
        tasks = sum(len(s.get("forEach", [None])) for s in document["stages"])
        click.echo(f"{path}: valid ({stages} stage{'s' * (stages != 1)}, {tasks} task(s))")
    if failed:
        sys.exit(2)


@main.command()
@click.argument("document_path", metavar="JOB.json")
@click.option("--json", "as_json", is_flag=True, help="Print the plan prepare_job would return.")
@reports_errors
def plan(document_path: str, as_json: bool) -> None:
    """Show what a job would run: stages, tasks, commands, sizes, timeouts, attempts, and
    the worst-case use of each AWS quota the run must fit."""
    from longjob_core.planning import expand_stage, make_plan
    from longjob_core.quotas import estimates

    from longjob.job_files import load_job

    document = load_job(document_path)
    the_plan = make_plan(document, execution_name="<execution>")
    quotas = estimates(document)
    if as_json:
        the_plan["quotas"] = [
            {"what": e.what, "estimate": e.value, "limit": e.limit, "unit": e.unit} for e in quotas
        ]
        click.echo(json.dumps(the_plan, indent=2))
        return
    click.echo(
        f"job {the_plan['job']}: {len(the_plan['stages'])} stage(s), "
        f"timeout {the_plan['timeoutSeconds']}s, concurrency {the_plan['concurrency']}, "
        f"notify {the_plan['notify']}"
    )
    for index, stage in enumerate(the_plan["stages"], start=1):
        flags = [f"on failure: {stage['onFailure']}"]
        if stage["always"]:
            flags.append("always runs")
        tasks = expand_stage(stage)
        if len(tasks) > 1:
            flags.append(f"{len(tasks)} tasks, {stage['maxConcurrency']} at a time")
        click.echo(f"\n{index}. {stage['name']}  ({', '.join(flags)})")
        resources = stage["resources"]
        for task in tasks:
            size = (
                f"cpu {resources['Cpu']} / memory {resources['Memory']} MiB"
                if resources
                else "task definition size"
            )
            command = " ".join(json.dumps(a) if " " in a or not a else a for a in task["command"])
            click.echo(f"   {task['label']}: {command}")
            click.echo(
                f"      {size}; timeout {stage['timeoutSeconds']}s per attempt; "
                f"{stage['maxAttempts']} attempt(s)"
            )
            user_env = [e for e in task["environment"] if not e["Name"].startswith("LONGJOB_")]
            for variable in user_env:
                click.echo(f"      {variable['Name']}={variable['Value']}")
    click.echo("\nquotas (worst case: every task fails every attempt):")
    width = max(len(e.what) for e in quotas)
    for estimate in quotas:
        click.echo(
            f"   {estimate.what.ljust(width)}  {estimate.value:>9,} of {estimate.limit:>9,} "
            f"{estimate.unit}"
        )


@main.command()
@click.argument("document_path", metavar="[JOB.json]", required=False)
@click.option(
    "--definition",
    "definition_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Run this state machine definition (ASL JSON) instead of the project's.",
)
@click.option(
    "--input",
    "input_path",
    default=None,
    help="With --definition: the execution input, a JSON file or - for stdin (default {}).",
)
@click.option(
    "--sub",
    "subs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Value of a ${KEY} DefinitionSubstitution (repeatable; overrides the template's).",
)
@click.option(
    "--function",
    "functions",
    multiple=True,
    metavar="NAME=HANDLER",
    help="Lambda function NAME (or ARN) served by HANDLER: module:function or file.py:function.",
)
@click.option(
    "--parameter",
    "parameters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Template parameter for a job run (repeatable; overrides samconfig.toml's default).",
)
@click.option(
    "--secrets",
    "secrets_path",
    type=click.Path(exists=True, dir_okay=False),
    help='Seed the local SSM / Secrets Manager: {"ssm:/path": "value", "secretsmanager:name": …}.',
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
    help="Project folder (template.yaml, container/); default: the current directory.",
)
@click.option(
    "--stop-timeout",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds between SIGTERM and SIGKILL when a task is stopped (default 30).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@reports_errors
def run(
    document_path: str | None,
    definition_path: str | None,
    input_path: str | None,
    subs: tuple[str, ...],
    functions: tuple[str, ...],
    parameters: tuple[str, ...],
    secrets_path: str | None,
    runtime: str,
    image: str | None,
    project: Path,
    stop_timeout: float | None,
    as_json: bool,
) -> None:
    """Run a job document on this machine, for real: the project's state machine, its
    Lambda code and its scripts, with ECS tasks as local processes (or containers).

    With --definition, run any state machine definition instead.
    Exit code 0 when the job succeeded, 1 when it failed, 2 when the input is invalid.
    """
    from longjob.cli.run import LocalRunOptions, read_secrets, run_locally
    from longjob.job_files import load_job, read_json

    if (document_path is None) == (definition_path is None):
        raise click.UsageError("pass a job document, or --definition FILE (not both)")
    if document_path is not None and input_path is not None:
        raise click.UsageError("--input goes with --definition; a job document is the input")
    options = LocalRunOptions(
        project=project,
        runtime=runtime,
        image=image,
        substitutions=_pairs(subs, "--sub"),
        functions=_pairs(functions, "--function"),
        secrets=read_secrets(secrets_path) if secrets_path else {},
        stop_timeout=stop_timeout,
        as_json=as_json,
    )
    if definition_path is not None:
        if input_path == "-":
            execution_input = _stdin_json()
        else:
            execution_input = {} if input_path is None else read_json(input_path)
        code = run_locally(options, Path(definition_path).read_text(), execution_input, job=False)
        sys.exit(code)

    from longjob.stack.application import load_application

    document = load_job(document_path)
    application = load_application(project, _pairs(parameters, "--parameter"))
    options.substitutions = {
        **application.substitutions,
        "LogGroupName": str(project / ".longjob" / "runs"),
        **options.substitutions,
    }
    options.functions = {**application.functions, **options.functions}
    options.application = application
    if options.stop_timeout is None:
        options.stop_timeout = float(application.parameters.get("StopTimeout", 30))
    sys.exit(run_locally(options, application.definition, document, job=True))


def _stdin_json() -> Any:
    try:
        return json.loads(sys.stdin.read())
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"-: {error}", param_hint="--input") from None


def _register_operations() -> None:
    from longjob.cli.operate import COMMANDS

    for command in COMMANDS:
        command.callback = reports_errors(command.callback)
        main.add_command(command)


_register_operations()
