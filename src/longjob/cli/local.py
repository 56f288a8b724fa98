"""`longjob local up | down | env | tick`: the project's stack as a local AWS endpoint."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click
from longjob_core.contract import EXIT_INVALID

from longjob.cli.options import local_stack_options, pairs, say
from longjob.errors import UserError

DETACHED_LOG = Path(".longjob") / "local.log"
DETACH_WAIT_SECONDS = 120


@click.group()
def local() -> None:
    """The project's stack served on one AWS endpoint on 127.0.0.1, for the AWS CLI, boto3
    and `longjob --stack local`."""


@local.command()
@click.option(
    "--port", type=click.IntRange(0, 65535), default=4566, show_default=True, help="0: any."
)
@local_stack_options
@click.option(
    "--mock-config",
    "mock_configs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="An AWS mock configuration file (repeatable): StartExecution on <ARN>#<case> runs "
    "the case, as on Step Functions Local.",
)
@click.option("--no-iam", "no_iam", is_flag=True, help="Do not check calls against the roles.")
@click.option(
    "--detach", is_flag=True, help="Serve in the background; `longjob local down` stops it."
)
def up(
    port: int,
    runtime: str,
    image: str | None,
    parameters: tuple[str, ...],
    secrets_path: str | None,
    mock_configs: tuple[str, ...],
    no_iam: bool,
    detach: bool,
) -> None:
    """Serve the stack until Ctrl-C (or `longjob local down`): executions any client starts
    run for real; stopping ends the running ones ABORTED and their tasks."""
    project = Path.cwd()
    if detach:
        _detach(project)
        return
    from longjob.cli.run import _launcher, read_secrets
    from longjob.engine.task_runtime import DEFAULT_STOP_TIMEOUT
    from longjob.stack.application import load_application
    from longjob.stack.local import LocalStack
    from longjob.stack.server import ServerInfo, serve

    try:
        ServerInfo.load(project)
    except UserError:
        pass
    else:
        raise UserError(f"a local stack is already running here ({ServerInfo.path(project)})")
    application = load_application(project, pairs(parameters, "--parameter"))
    launcher = _launcher(project, runtime, image)
    definition = application.task_definition()
    timeout = (
        definition.stop_timeout
        if definition and definition.stop_timeout is not None
        else DEFAULT_STOP_TIMEOUT
    )
    secrets = read_secrets(secrets_path) if secrets_path else {}
    from longjob.mocking.config import load_mock_config
    from longjob.mocking.runner import only_state_machine

    mocks = [load_mock_config(path) for path in mock_configs]
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    with LocalStack(application, launcher, timeout, secrets, iam=not no_iam) as stack:
        for config in mocks:
            stack.use_mock_config(config, only_state_machine(config))
        serve(stack, project, port, stop, _announce, timeout, say)
    say("local stack stopped")


def _announce(info: Any) -> None:
    arn = info.state_machine_arn
    endpoint = info.endpoint
    say(f"local stack {info.stack_name} on {endpoint} (Ctrl-C stops it)")
    say(f"state machine {arn}")
    say("")
    say('  eval "$(longjob local env)"   # endpoint, key and region for the AWS CLI and boto3')
    say(
        f"  aws stepfunctions start-execution --endpoint-url {endpoint} "
        f"--state-machine-arn {arn} --input file://jobs/examples/hello.json"
    )
    say(f"  aws stepfunctions list-executions --endpoint-url {endpoint} --state-machine-arn {arn}")
    say("  longjob start jobs/examples/hello.json --stack local --follow")
    sys.stdout.flush()


def _detach(project: Path) -> None:

    arguments = [a for a in sys.argv[1:] if a != "--detach"]
    log = project / DETACHED_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "longjob", *arguments],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=project,
            start_new_session=True,  # Ctrl-C in this terminal is not for it
        )
    try:
        info = _wait_until_serving(process, log)
    except BaseException:
        # Ctrl-C here, or a server that did not come up: nothing is left behind.
        _end(process)
        raise
    _announce(info)
    say(f"(in the background, pid {info.pid}, its output in {log}; `longjob local down`)")


def _wait_until_serving(process: subprocess.Popen[bytes], log: Path) -> Any:
    from longjob.stack.server import ServerInfo

    deadline = time.monotonic() + DETACH_WAIT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise UserError(f"the local stack did not start:\n{log.read_text().strip()}")
        try:
            info = ServerInfo.load(Path.cwd())
        except UserError:
            time.sleep(0.1)
            continue
        if info.pid == process.pid:
            return info
        time.sleep(0.1)
    raise UserError(f"the local stack did not start within {DETACH_WAIT_SECONDS} s; see {log}")


def _end(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@local.command()
@click.option(
    "--timeout",
    type=float,
    default=None,
    help="Seconds to wait (default: the tasks' stop timeout + 30).",
)
def down(timeout: float | None) -> None:
    """Stop the local stack served from this folder (its running executions end ABORTED)."""
    from longjob.stack.server import ServerInfo

    project = Path.cwd()
    info = ServerInfo.load(project)
    wait = info.stop_timeout + 30 if timeout is None else timeout
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.kill(info.pid, 0)
        except ProcessLookupError:
            (project / DETACHED_LOG).unlink(missing_ok=True)  # the server's state is gone
            say("local stack stopped")
            return
        time.sleep(0.1)
    raise UserError(f"the local stack (pid {info.pid}) did not stop within {wait:.0f} s")


@local.command()
@click.option("--json", "as_json", is_flag=True, help="The variables as a JSON object.")
def env(as_json: bool) -> None:
    """The environment variables that point the AWS CLI and boto3 at the local stack:
    eval "$(longjob local env)"."""
    from longjob.stack.server import ServerInfo

    variables = ServerInfo.load(Path.cwd()).environment()
    if as_json:
        say(json.dumps(variables))
        return
    for name, value in variables.items():
        say(f"export {name}={shlex.quote(value)}")


@local.command()
def tick() -> None:
    """Fire the template's schedule once, now: start the execution it would start."""
    from longjob.stack.deployed import Aws, aws_errors
    from longjob.stack.schedule import Schedule, fire
    from longjob.stack.server import ServerInfo

    info = ServerInfo.load(Path.cwd())
    if info.schedule is None:
        say("the local stack's schedule is disabled (its ScheduleExpression is empty)")
        raise SystemExit(EXIT_INVALID)
    aws = Aws(
        region=info.region,
        endpoint=info.endpoint,
        credentials=(info.access_key_id, info.secret_access_key),
    )
    say(f"started {aws_errors(fire)(aws.sfn, info.state_machine_arn, Schedule(**info.schedule))}")
