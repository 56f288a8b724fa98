"""`longjob local up`: the project's stack on this machine, served on one AWS endpoint.

Any AWS client reaches it at ``http://127.0.0.1:<port>``: the AWS CLI, boto3, `longjob
--stack local`. Behind it is a LocalStack (the engine, the stack's resources, its roles) and
the stack registered with CloudFormation, so DescribeStacks lists the outputs a deployed
stack has. An execution started by any client runs as `longjob run` runs one: tasks as
processes or containers, the Lambdas in-process, IAM checked.

The endpoint answers only requests signed with the server's own access key (random, in
``.longjob/local/server.json``, mode 0600, and printed by `longjob local env`) and never a
browser, as the tasks' endpoint does (engine/endpoint.py). Calls signed with it are the
operator's, as `longjob run`'s own calls are: not checked against the stack's roles.

Stopping the server (Ctrl-C, SIGTERM from `longjob local down`) stops every running
execution (ABORTED, its tasks stopped as a stopped execution's are) before it exits, and
removes the state it kept under ``.longjob/local/``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from longjob.errors import UserError
from longjob.stack.template import LOCAL_REGION, LOCAL_STACK

STATE_DIR = Path(".longjob") / "local"
DEFAULT_PORT = 4566  # where local AWS endpoints usually listen (LocalStack's port)
STOP_CAUSE = "The local stack stopped (longjob local down, or Ctrl-C)"


@dataclasses.dataclass(frozen=True)
class ServerInfo:
    """What a client needs to reach a running local stack; kept in server.json."""

    endpoint: str
    access_key_id: str
    secret_access_key: str
    region: str
    stack_name: str
    state_machine_arn: str
    pid: int
    # When the process started (psutil's create_time): a pid alone may be another process's
    # after the server died without cleaning up.
    started: float = 0.0
    stop_timeout: float = 30.0  # the tasks' SIGTERM-to-SIGKILL time: how long stopping takes
    # The template's schedule as this server runs it (expression, timezone, input), if enabled.
    schedule: dict[str, str] | None = None

    @staticmethod
    def path(project: Path) -> Path:
        return project / STATE_DIR / "server.json"

    def save(self, project: Path) -> None:
        path = self.path(project)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(dataclasses.asdict(self), out, indent=2)
        temporary.replace(path)  # readers never see half a file

    @classmethod
    def load(cls, project: Path) -> ServerInfo:
        path = cls.path(project)
        if not path.exists():
            raise UserError(
                f"no local stack is running here ({path} not found): start one with "
                "`longjob local up`"
            )
        try:
            info = cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as error:
            raise UserError(f"{path}: unreadable ({error}); remove it and start again") from None
        if not _alive(info.pid, info.started):
            path.unlink(missing_ok=True)  # its server died without removing it
            raise UserError(
                f"the local stack of {path} is gone (process {info.pid} ended): "
                "start one with `longjob local up`"
            )
        return info

    def client(self, service: str) -> Any:
        """A boto3 client of this server (for scripts and tests)."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def environment(self) -> dict[str, str]:
        """The variables an AWS client needs to use this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
        }


def _alive(pid: int, started: float) -> bool:
    """Whether the server's process still runs (the same process, not a new one with its pid)."""
    import psutil

    try:
        return abs(psutil.Process(pid).create_time() - started) < 1.0
    except psutil.NoSuchProcess:
        return False


def _process_started() -> float:
    import psutil

    return psutil.Process(os.getpid()).create_time()


def register_stack(cloudformation: Any, outputs: dict[str, str]) -> None:
    """The stack in the embedded CloudFormation, with the outputs a deployed stack has (its
    resources are served by the engine; one placeholder satisfies CloudFormation)."""
    template = {
        "Resources": {"Local": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto names the placeholder type it does not model
        cloudformation.create_stack(StackName=LOCAL_STACK, TemplateBody=json.dumps(template))


def stop_running_executions(sfn: Any, state_machine_arn: str, timeout: float) -> list[str]:
    """Stops every running execution of the machine and waits for them to end; their
    statuses."""
    running = [
        e["executionArn"]
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=state_machine_arn, statusFilter="RUNNING"
        )
        for e in page["executions"]
    ]
    for arn in running:
        with contextlib.suppress(Exception):  # it may have ended meanwhile
            sfn.stop_execution(executionArn=arn, error="States.Aborted", cause=STOP_CAUSE)
    deadline = time.monotonic() + timeout
    statuses = []
    for arn in running:
        while (status := sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING":
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        statuses.append(status)
    return statuses


def run_schedule(
    schedule: Any, fire: Callable[[], str], stop: threading.Event, say: Callable[[str], None]
) -> None:
    """Fires the schedule at its times until ``stop`` is set (a thread of the server)."""
    import datetime

    started = datetime.datetime.now(datetime.UTC)
    moment = started - datetime.timedelta(seconds=1)  # a rate's first time is its start
    while True:
        due = schedule.next_after(moment, started)
        now = datetime.datetime.now(datetime.UTC)
        if due is None:
            return
        if stop.wait(max(0.0, (due - now).total_seconds())):
            return
        moment = due
        try:
            say(f"schedule {schedule.expression}: started {fire()}")
        except Exception as error:  # noqa: BLE001 - the scheduler carries on, as AWS's does
            say(f"schedule {schedule.expression}: could not start an execution: {error}")


def _check_port(port: int) -> None:
    """A taken port, refused before anything serves (werkzeug would print and exit)."""
    import socket

    if port == 0:
        return
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise UserError(f"cannot listen on 127.0.0.1:{port}: {error.strerror}") from None


def serve(
    local: Any,
    project: Path,
    port: int,
    stop: threading.Event,
    ready: Callable[[ServerInfo], None],
    stop_timeout: float,
    say: Callable[[str], None] = print,
) -> None:
    """Serves an entered LocalStack until ``stop`` is set; fires the template's schedule
    when it is enabled."""
    from longjob.engine.endpoint import LockedEndpoint, RunCredentials
    from longjob.stack.schedule import fire, schedule_of

    schedule = schedule_of(local.application.stack.resources)
    _check_port(port)
    register_stack(local.engine.aws_client("cloudformation"), local.outputs)
    credentials = RunCredentials.new()
    endpoint = LockedEndpoint(credentials, port)
    try:
        endpoint.start()
    except OSError as error:
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {error.strerror}") from None
    host, bound = endpoint.get_host_and_port()
    info = ServerInfo(
        endpoint=f"http://{host}:{bound}",
        access_key_id=credentials.access_key_id,
        secret_access_key=credentials.secret_access_key,
        region=LOCAL_REGION,
        stack_name=LOCAL_STACK,
        state_machine_arn=local.outputs["StateMachineArn"],
        pid=os.getpid(),
        started=_process_started(),
        stop_timeout=stop_timeout,
        schedule=None if schedule is None else dataclasses.asdict(schedule),
    )
    scheduler: threading.Thread | None = None
    try:
        info.save(project)
        ready(info)
        if schedule is not None:
            sfn = local.engine.aws_client("stepfunctions")
            say(f"schedule {schedule.expression} ({schedule.timezone}) is enabled: it fires here")
            scheduler = threading.Thread(
                target=run_schedule,
                args=(schedule, lambda: fire(sfn, info.state_machine_arn, schedule), stop, say),
                daemon=True,
            )
            scheduler.start()
        while not stop.wait(0.2):
            pass
        # Nothing new starts from here: no client, no schedule; then the running ones stop.
        endpoint.stop()
        if scheduler is not None:
            scheduler.join(timeout=60)
        statuses = stop_running_executions(
            local.engine.aws_client("stepfunctions"), info.state_machine_arn, stop_timeout + 10
        )
        if statuses:
            say(f"stopped {len(statuses)} running execution(s): {', '.join(statuses)}")
    finally:
        with contextlib.suppress(Exception):  # stopped above, or never started serving
            endpoint.stop()
        shutil.rmtree(project / STATE_DIR, ignore_errors=True)
