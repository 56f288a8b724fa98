"""`longjob run`: a job on this machine, or any state machine definition.

A job run is `start --follow` against the project's stack on this machine (a LocalStack):
the same start, the same watcher, the same report and exit codes a deployed run gives. A
definition run (`--definition`) runs any ASL on the local engine and prints what the
execution did.
"""

from __future__ import annotations

import json
import select
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from longjob_core.contract import EXIT_FAILED, EXIT_SUCCEEDED
from longjob_core.summary import align, exit_text, human_duration

from longjob.cli.options import (
    function_option,
    local_stack_options,
    pairs,
    say,
    say_on_stderr,
    stop_on_signals,
    valid_document,
)
from longjob.errors import UserError

if TYPE_CHECKING:
    from longjob.report.approvals import Gate

# A local run reads the history this often: the engine is in this process, reads are cheap.
LOCAL_POLL_SECONDS = 0.1


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


@click.command()
@click.argument("document", metavar="[JOB.json]", required=False, callback=valid_document)
@click.option(
    "--definition",
    "definition_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Run this state machine definition (ASL JSON) instead of a job.",
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
@function_option
@local_stack_options
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
    help="Seconds between SIGTERM and SIGKILL when a task is stopped (default: the "
    "template's StopTimeout; 30 for --definition).",
)
@click.option("--name", default=None, help="Execution name (default: <job>-<UTC time>).")
@click.option(
    "--iam/--no-iam",
    default=True,
    show_default=True,
    help="Check each AWS call of a job run against the role that makes it on AWS.",
)
@click.option(
    "--iam-report",
    is_flag=True,
    help="After a job run, list per role the permissions used and the statements never "
    "needed (with --json: the document's 'iam' key).",
)
@click.option(
    "--mock-config",
    "mock_config_path",
    type=click.Path(exists=True, dir_okay=False),
    help="An AWS mock configuration file (MockConfigFile.json format); needs --test-case.",
)
@click.option(
    "--test-case",
    default=None,
    help="Run this test case of --mock-config: its mocked Task states answer from the file.",
)
@click.option(
    "--state-machine",
    "mock_machine",
    default=None,
    help="With --mock-config: the state machine the case belongs to (default: the only one "
    "the file names).",
)
@click.option(
    "--approve",
    "approve_all",
    is_flag=True,
    help="Approve every approval stage without asking (for CI).",
)
@click.option(
    "--reject",
    "reject_all",
    is_flag=True,
    help="Reject the first approval stage without asking (the run ends REJECTED).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Progress on stderr, one JSON document on stdout."
)
def run(
    document: dict[str, Any] | None,
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
    name: str | None,
    iam: bool,
    iam_report: bool,
    mock_config_path: str | None,
    test_case: str | None,
    mock_machine: str | None,
    approve_all: bool,
    reject_all: bool,
    as_json: bool,
) -> None:
    """Run a job on this machine, for real: the project's state machine, its Lambda code and
    its scripts, with ECS tasks as local processes (or containers). It reports and exits as
    `start --follow` does: 0 succeeded, 1 failed/timed out/aborted, 2 invalid, 3 skipped;
    128+N when stopped by signal N.

    With --definition, run any state machine definition instead (0 succeeded, 1 failed).

    At an approval stage the run asks on the terminal (y/N, until the stage's timeout);
    --approve or --reject answer without asking.

    With --mock-config and --test-case, the case's mocked Task states answer from the file
    (AWS's mock configuration format); the other states run as usual."""
    if (document is None) == (definition_path is None):
        raise click.UsageError("pass a job document, or --definition FILE (not both)")
    if document is not None and input_path is not None:
        raise click.UsageError("--input goes with --definition; a job document is the input")
    if definition_path is not None and (iam_report or not iam):
        raise click.UsageError(
            "--iam-report and --no-iam go with a job run (a bare definition has no roles)"
        )
    if (mock_config_path is None) != (test_case is None):
        raise click.UsageError("--mock-config and --test-case go together")
    if mock_machine is not None and mock_config_path is None:
        raise click.UsageError("--state-machine goes with --mock-config")
    if approve_all and reject_all:
        raise click.UsageError("--approve or --reject, not both")
    decision = True if approve_all else (False if reject_all else None)
    if definition_path is not None and decision is not None:
        raise click.UsageError("--approve and --reject go with a job run")
    gates = [s["name"] for s in (document or {}).get("stages", []) if "approval" in s]
    if document is not None and decision is not None and not gates:
        say_on_stderr(
            f"warning: --{'approve' if decision else 'reject'}: this job has no approval stage"
        )
    if gates and decision is None and not sys.stdin.isatty():
        raise click.UsageError(
            f"stage {gates[0]} asks for an approval and there is no terminal to ask on: "
            "pass --approve or --reject"
        )
    mock = None
    if mock_config_path is not None:
        assert test_case is not None
        mock = _mock_case(mock_config_path, test_case, mock_machine)
    secrets = read_secrets(secrets_path) if secrets_path else {}
    if definition_path is not None:
        execution_input = _definition_input(input_path)
        code = run_definition(
            project,
            runtime,
            image,
            Path(definition_path).read_text(),
            execution_input,
            pairs(subs, "--sub"),
            pairs(functions, "--function"),
            secrets,
            stop_timeout,
            as_json,
            mock=mock,
            definition_name=definition_path,
        )
        sys.exit(code)
    assert document is not None
    sys.exit(
        run_job(
            project,
            runtime,
            image,
            document,
            pairs(parameters, "--parameter"),
            pairs(subs, "--sub"),
            pairs(functions, "--function"),
            secrets,
            stop_timeout,
            name,
            as_json,
            iam=iam,
            iam_report=iam_report,
            mock=mock,
            decision=decision,
        )
    )


def _mock_case(path: str, test_case: str, machine: str | None) -> Any:
    """(config, machine, case) of --mock-config, checked before anything starts."""
    from longjob.mocking.config import MockConfigError, load_mock_config
    from longjob.mocking.runner import only_state_machine

    config = load_mock_config(path)
    machine = machine or only_state_machine(config)
    if machine not in config.state_machines:
        raise MockConfigError([f"{path}: no state machine {machine!r} in StateMachines"])
    if test_case not in config.cases(machine):
        raise MockConfigError([f"{path}: no test case {test_case!r} for state machine {machine!r}"])
    return config, machine, test_case


def _definition_input(input_path: str | None) -> Any:
    from longjob.job_files import read_json

    if input_path is None:
        return {}
    if input_path != "-":
        return read_json(input_path)
    try:
        return json.loads(sys.stdin.read())
    except json.JSONDecodeError as error:
        raise click.BadParameter(f"-: {error}", param_hint="--input") from None


def _launcher(project: Path, runtime: str, image: str | None) -> Any:
    # Imported here: loading moto takes a second that other commands need not pay.
    from longjob.containers import DEFAULT_IMAGE
    from longjob.engine.exceptions import EngineError
    from longjob.engine.launchers import make_launcher

    try:
        return make_launcher(runtime, project, image or DEFAULT_IMAGE)
    except EngineError as error:
        raise UserError(str(error)) from None


# --- a job ------------------------------------------------------------------------------------


def run_job(
    project: Path,
    runtime: str,
    image: str | None,
    document: dict[str, Any],
    parameters: dict[str, str],
    substitutions: dict[str, str],
    functions: dict[str, str],
    secrets: dict[str, str],
    stop_timeout: float | None,
    name: str | None,
    as_json: bool,
    iam: bool = True,
    iam_report: bool = False,
    mock: tuple[Any, str, str] | None = None,
    decision: bool | None = None,
) -> int:
    """`start --follow` on the project's stack on this machine; the run's exit code. At an
    approval stage, ``decision`` answers (True approve, False reject), or the terminal."""
    from longjob.cli.operate import announce, follow_run, print_document, start_run
    from longjob.engine.exceptions import EngineError
    from longjob.engine.service_hooks import FunctionSpec
    from longjob.engine.task_runtime import DEFAULT_STOP_TIMEOUT
    from longjob.stack.application import load_application
    from longjob.stack.local import LocalStack

    application = load_application(project, parameters)
    application.substitutions.update(substitutions)
    application.functions.update({k: FunctionSpec(v) for k, v in functions.items()})
    launcher = _launcher(project, runtime, image)
    timeout = stop_timeout
    if timeout is None:
        definition = application.task_definition()
        timeout = (
            definition.stop_timeout
            if definition and definition.stop_timeout is not None
            else DEFAULT_STOP_TIMEOUT  # ECS's default when the container sets none
        )
    say_line = say_on_stderr if as_json else say
    if not iam:
        say_on_stderr(
            "warning: --no-iam: no AWS call is checked against the stack's roles; "
            "what AWS would refuse succeeds here"
        )
    try:
        with (
            stop_on_signals(),
            LocalStack(application, launcher, timeout, secrets, iam=iam) as local,
        ):
            assert local.aws is not None
            assert local.stack is not None
            test_case = None
            if mock is not None:
                config, machine, test_case = mock
                local.use_mock_config(config, machine)
            arn = start_run(local.aws, local.stack, document, name, test_case)
            announce(arn, say_line, console=False)
            say_line(f"logs {local.log_dir(arn)}")

            def stop(signum: int) -> None:
                cause = f"Interrupted ({signal.Signals(signum).name})"
                local.aws.sfn.stop_execution(executionArn=arn, cause=cause)  # type: ignore[union-attr]

            code = follow_run(
                local.aws,
                local.stack,
                arn,
                LOCAL_POLL_SECONDS,
                live_tail=False,  # the embedded CloudWatch Logs has no Live Tail
                say_line=say_line,
                on_interrupt=stop,
                log_file=local.log_file,
                on_gate=gate_answerer(local.aws, local.stack, arn, decision, say_line),
            )
            local.end(arn)
            report = local.iam_report() if iam_report else None
            if as_json:
                print_document(
                    local.aws,
                    local.stack,
                    arn,
                    {"iam": report} if iam_report else None,
                    log_file=local.log_file,
                )
            elif report is not None:
                print_iam_report(report, say_line)
    except EngineError as error:
        raise UserError(str(error)) from None
    return code


def gate_answerer(
    aws: Any, stack: Any, arn: str, decision: bool | None, say_line: Any
) -> Callable[[Gate], None]:
    """Answers a local run's approval stages: with ``decision``, or by asking on the terminal
    until the stage's timeout (no answer: the stage times out, as on AWS)."""
    from longjob.report.approvals import question_lines
    from longjob.stack.approvals import REQUEST_WAIT_SECONDS, answer
    from longjob.stack.deployed import AwsError

    def on_gate(gate: Gate) -> None:
        for line in question_lines(gate):
            say_line(f"[{gate.stage}] {line}")
        if decision is None:
            approve = ask(f"[{gate.stage}] approve? [y/N] ", gate.remaining_seconds())
            comment = "answered at the terminal (longjob run)"
        else:
            approve = decision
            comment = "answered by longjob run --" + ("approve" if decision else "reject")
        if approve is None:
            say_line(f"[{gate.stage}] no answer within {gate.timeout_seconds}s")
            return
        try:
            answered = answer(aws, stack, arn, approve, comment, REQUEST_WAIT_SECONDS, gate.stage)
        except AwsError as error:
            say_line(f"[{gate.stage}] {error}")
            if decision is not None:
                # --approve/--reject promised an answer: a run must not wait a day instead.
                stop_unanswered(aws, arn, gate.stage, str(error))
            return
        verb = "approved" if answered.approved else "rejected"
        say_line(f"[{gate.stage}] {verb} as {answered.by}")

    return on_gate


def stop_unanswered(aws: Any, arn: str, stage: str, why: str) -> None:
    """Stops a run that still waits at ``stage`` for the answer it could not be given; a run
    that has left the stage (its request failed, or it timed out) goes on to its end."""
    from botocore.exceptions import ClientError

    from longjob.report.approvals import GateReader
    from longjob.report.history import fetch_history

    try:
        gates = GateReader()
        gates.feed(fetch_history(aws.sfn, arn))
        if gates.open is not None and gates.open.stage == stage:
            aws.sfn.stop_execution(executionArn=arn, error="longjob.NotAnswered", cause=why[:1000])
    except ClientError:
        pass  # it ended meanwhile: nothing waits


def ask(prompt: str, seconds: float) -> bool | None:
    """y/N on the terminal: True for y or yes, False for anything else (end of input
    included); None when ``seconds`` pass without an answer."""
    click.echo(prompt, nl=False, err=True)
    ready, _, _ = select.select([sys.stdin], [], [], max(0.0, seconds))
    if not ready:
        click.echo("", err=True)
        return None
    return sys.stdin.readline().strip().lower() in {"y", "yes"}


def print_iam_report(report: list[dict[str, Any]], say_line: Any) -> None:
    """Per role: what the run used, and the statements it never needed."""
    say_line("")
    say_line("IAM (what this run's calls needed, per role)")
    for row in report:
        say_line(f"  {row['role']}")
        by_action: dict[str, list[str]] = {}
        for use in row["used"]:
            by_action.setdefault(use["action"], []).append(use["resource"])
        for action, resources in by_action.items():
            more = f"  (+{len(resources) - 1} more)" if len(resources) > 1 else ""
            say_line(f"    used    {action}  {resources[0]}{more}")
        for label in row["unusedStatements"]:
            note = row["notes"].get(label)
            say_line(f"    unused  {label}" + (f"  ({note})" if note else ""))
        for message in row["denied"]:
            say_line(f"    denied  {message}")


# --- any definition ---------------------------------------------------------------------------


def run_definition(
    project: Path,
    runtime: str,
    image: str | None,
    definition: str,
    execution_input: Any,
    substitutions: dict[str, str],
    functions: dict[str, str],
    secrets: dict[str, str],
    stop_timeout: float | None,
    as_json: bool,
    mock: tuple[Any, str, str] | None = None,
    definition_name: str = "the definition",
) -> int:
    """Runs one execution of any definition and prints what it did; its exit code."""
    from longjob.engine.exceptions import EngineError
    from longjob.engine.local_engine import LocalEngine
    from longjob.engine.task_runtime import DEFAULT_STOP_TIMEOUT
    from longjob.mocking.runner import check_mocked_states
    from longjob.stack.local import seed_secrets

    # With --json, stdout carries the document only: the tasks' lines go to stderr.
    live = sys.stderr if as_json else sys.stdout
    lock = threading.Lock()

    def on_line(task: Any, line: str) -> None:
        with lock:
            print(f"[{task.label}] {line}", file=live, flush=True)

    launcher = _launcher(project, runtime, image)
    try:
        with (
            stop_on_signals(),
            LocalEngine(
                project,
                launcher,
                functions=dict(functions),
                stop_timeout=DEFAULT_STOP_TIMEOUT if stop_timeout is None else stop_timeout,
                on_line=on_line,
            ) as engine,
        ):
            seed_secrets(engine, secrets)
            test_case = machine = None
            if mock is not None:
                config, machine, test_case = mock
                check_mocked_states(config, machine, definition, substitutions, definition_name)
                engine.register_mock_config(config, machine)
            result = engine.run(
                definition,
                execution_input,
                substitutions,
                test_case=test_case,
                machine_name=machine,
            )
    except EngineError as error:
        raise UserError(str(error)) from None
    if as_json and result.interrupted is None:
        print(json.dumps(result_document(result), indent=2))
    else:
        print_definition_report(result, sys.stdout)
    if result.interrupted is not None:
        return 128 + result.interrupted
    return EXIT_SUCCEEDED if result.succeeded else EXIT_FAILED


def result_document(result: Any) -> dict[str, Any]:
    return {
        "status": result.status,
        "output": result.output,
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
        took = None if task.stopped_at is None else task.stopped_at - (task.started_at or 0)
        rows.append(
            (
                task.label,
                str(task.attempt),
                exit_text(task.exit_code),
                task.stop_code or "-",
                human_duration(took),
                task.log_file,
            )
        )
    return align(rows)


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
    if result.status == "SUCCEEDED":
        # Any JSON value is an output, null included.
        print(f"output: {json.dumps(result.output)[:2000]}", file=out)
