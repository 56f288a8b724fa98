"""The local ECS task runtime: runs RunTask requests as real processes or containers.

It speaks botocore's ECS shapes (camelCase request and task description), so the state
machine integration can recase both sides with botocore's own service model. A task is the
toolbox entrypoint run with the container override's command and environment, either as
a child process of ``container/entrypoint.sh`` or inside the image with Podman/Docker.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longjob_core.contract import ATTEMPT_ENV, ITEM_ENV, STAGE_ENV

from longjob.engine import ACCOUNT
from longjob.engine.exceptions import EcsApiError, ImageNotFound, RunTaskFailures
from longjob.engine.launchers import Launcher
from longjob.engine.private_files import private_directory, private_file
from longjob.engine.task_definition import TaskDefinition
from longjob.engine.task_record import TaskContext, TaskRecord, path_segment

ESSENTIAL_EXITED = "EssentialContainerExited"
USER_INITIATED = "UserInitiated"

LineSink = Callable[["TaskRecord", str], None]
# Why a task stops before its container runs (as Fargate stops it), or None.
StartCheck = Callable[["TaskRecord"], str | None]
# Seconds between SIGTERM and SIGKILL when a task is stopped, unless the caller (the
# template's StopTimeout for a job run) says otherwise.
DEFAULT_STOP_TIMEOUT = 30.0
FAULT_KINDS = {
    "capacity",
    "throttling",
    "failures",
    "invalid-parameter",
    "cannot-pull",
    "spot-interruption",
}
# A Fargate Spot task whose capacity is taken back: SIGTERM, then stopped (docs/aws-facts.md).
SPOT_INTERRUPTION = "SpotInterruption"
SPOT_PROVIDER = "FARGATE_SPOT"
SPOT_REASON = "Your Spot Task was interrupted."
SPOT_NOTICE_SECONDS = 0.5  # here: how long after its first line the task is interrupted
SPOT_WAIT_SECONDS = 60.0  # a task that never says anything is not interrupted
# What ECS says when a task's image cannot be pulled (the task stops before it runs).
CANNOT_PULL = (
    "CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to "
    "resolve ref {image}: {image}: not found"
)


@dataclass
class Fault:
    """An injected RunTask failure, for testing Retry/Catch paths."""

    kind: str  # one of FAULT_KINDS
    remaining: int


class LocalTaskRuntime:
    """Runs ECS tasks locally and answers RunTask / DescribeTasks / StopTask."""

    def __init__(
        self,
        launcher: Launcher,
        log_root: Path,
        base_env: dict[str, str],
        region: str,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        on_line: LineSink | None = None,
        may_start: StartCheck | None = None,
        task_definition: TaskDefinition | None = None,
    ) -> None:
        self.launcher = launcher
        self.may_start = may_start
        # The stack's task definition: what every task runs under (None: ECS's defaults).
        self.task_definition = task_definition
        self.log_root = log_root
        self.base_env = base_env
        # Called for each task when set (the engine's endpoint starts with the first task).
        self.base_env_provider: Callable[[], dict[str, str]] | None = None
        self.region = region
        self.stop_timeout = stop_timeout
        self.on_line = on_line
        self.tasks: dict[str, TaskRecord] = {}
        # Stop a task whose .sync state stopped waiting for it (timeout, stopped execution),
        # as Step Functions does.
        self.stop_abandoned_tasks = True
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # --- fault injection ----------------------------------------------------------------

    def inject_faults(self, kind: str, count: int = 1) -> None:
        """Make the next ``count`` RunTask calls fail like AWS does under pressure."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._faults.append(Fault(kind, count))

    def _take_fault(self, request: dict[str, Any]) -> Fault | None:
        """The next injected fault this RunTask can meet: Fargate Spot takes back only
        tasks it runs, so a Spot interruption waits for a task on FARGATE_SPOT."""
        strategy = request.get("capacityProviderStrategy") or [{}]
        on_spot = strategy[0].get("capacityProvider") == SPOT_PROVIDER
        with self._lock:
            for fault in self._faults:
                if fault.kind == "spot-interruption" and not on_spot:
                    continue
                if fault.remaining > 0:
                    fault.remaining -= 1
                    return fault
        return None

    # --- the ECS API --------------------------------------------------------------------

    def run_task(self, request: dict[str, Any], context: TaskContext) -> dict[str, Any]:
        """RunTask: starts the task, returns the RunTask response (botocore shape)."""
        fault = self._take_fault(request)
        if fault is not None and fault.kind == "throttling":
            raise EcsApiError("ThrottlingException", "Rate exceeded")
        if fault is not None and fault.kind == "invalid-parameter":
            # What ECS answers when its look-up of the task's security group is throttled.
            raise EcsApiError(
                "InvalidParameterException",
                "Error retrieving security group information for [sg-0123456789abcdef0]: "
                "Request limit exceeded. (ErrorCode: RequestLimitExceeded)",
            )
        if fault is not None and fault.kind == "capacity":
            raise EcsApiError(
                "ServerException", "Capacity is unavailable at this time. Please try again later."
            )
        cluster_arn = self._cluster_arn(request.get("cluster", "default"))
        task_definition_arn = self._task_definition_arn(request["taskDefinition"])
        if fault is not None and fault.kind == "failures":  # accepted, but nothing placed
            raise RunTaskFailures(
                {
                    "tasks": [],
                    "failures": [{"arn": task_definition_arn, "reason": "RESOURCE:CPU"}],
                }
            )
        command, environment = self._container_overrides(request)
        # A workflow that retries by looping (as longjob's does) numbers attempts itself.
        if environment.get(ATTEMPT_ENV, "").isdigit():
            context.attempt = int(environment[ATTEMPT_ENV])
        task_id = uuid.uuid4().hex
        cluster_name = cluster_arn.rsplit("/", 1)[-1]
        record = TaskRecord(
            task_arn=f"arn:aws:ecs:{self.region}:{ACCOUNT}:task/{cluster_name}/{task_id}",
            cluster_arn=cluster_arn,
            task_definition_arn=task_definition_arn,
            request=request,
            context=context,
            command=command,
            environment=environment,
            log_path=self._log_path(context, environment, task_id),
            definition=self.task_definition,
        )
        with self._lock:
            self.tasks[record.task_arn] = record
        if fault is not None and fault.kind == "cannot-pull":
            image = (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/"
                "longjob-prod-toolboxrepository-1a2b3c4d5e6f:v2026-11-30-missing"
            )
            self._failed_to_start(record, CANNOT_PULL.format(image=image))
        elif (refusal := self.may_start(record) if self.may_start else None) is not None:
            self._failed_to_start(record, refusal)
        else:
            self._start(record)
            if fault is not None and fault.kind == "spot-interruption":
                threading.Thread(target=self._interrupt, args=(record,), daemon=True).start()
        return {"tasks": [record.describe()], "failures": []}

    def _interrupt(self, record: TaskRecord) -> None:
        """Fargate Spot takes the task back in the middle of its work: once it has said
        something (its script is running, however slow the machine), and a moment later."""
        if record.said_something.wait(SPOT_WAIT_SECONDS) and not record.done.wait(
            SPOT_NOTICE_SECONDS
        ):
            self.stop(record.task_arn, SPOT_REASON, stop_code=SPOT_INTERRUPTION)

    def describe(self, task_arn: str, wait: float = 0.0) -> dict[str, Any]:
        """DescribeTasks for one task; waits up to ``wait`` seconds for it to stop, so a
        .sync poll returns as soon as the task ends instead of on a fixed tick."""
        record = self.tasks[task_arn]
        if wait > 0:
            record.done.wait(wait)
        return record.describe()

    def stop(self, task_arn: str, reason: str, stop_code: str = USER_INITIATED) -> None:
        """StopTask: SIGTERM now, SIGKILL after the stop timeout, as ECS does."""
        record = self.tasks.get(task_arn)
        if record is None or record.done.is_set() or record.stopping_at is not None:
            return
        record.stopping_at = time.time()
        record.stop_code = stop_code
        record.stopped_reason = reason
        self.launcher.terminate(record)
        timer = threading.Timer(self.stop_timeout, self._kill, args=(record,))
        timer.daemon = True
        timer.start()

    def _kill(self, record: TaskRecord) -> None:
        if not record.done.is_set():
            self.launcher.kill(record)

    def shutdown(self, reason: str = "Execution ended") -> None:
        """Stops every task still running and waits until all have exited."""
        for record in list(self.tasks.values()):
            self.stop(record.task_arn, reason)
        deadline = time.monotonic() + self.stop_timeout + 5
        for record in list(self.tasks.values()):
            record.done.wait(max(0.0, deadline - time.monotonic()))
        self.launcher.reap(list(self.tasks.values()))
        for thread in self._threads:
            thread.join(timeout=5)

    # --- helpers ------------------------------------------------------------------------

    def _cluster_arn(self, cluster: str) -> str:
        if cluster.startswith("arn:"):
            return cluster
        return f"arn:aws:ecs:{self.region}:{ACCOUNT}:cluster/{cluster}"

    def _task_definition_arn(self, task_definition: str) -> str:
        if task_definition.startswith("arn:"):
            return task_definition
        family, _, revision = task_definition.partition(":")
        return f"arn:aws:ecs:{self.region}:{ACCOUNT}:task-definition/{family}:{revision or 1}"

    @staticmethod
    def _container_overrides(request: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        overrides = request.get("overrides", {}).get("containerOverrides", [])
        if len(overrides) > 1:
            raise EcsApiError(
                "InvalidParameterException",
                "The toolbox task definition has one container; got "
                f"{len(overrides)} container overrides.",
            )
        override = overrides[0] if overrides else {}
        environment = {e["name"]: e["value"] for e in override.get("environment", [])}
        return list(override.get("command", [])), environment

    def _log_path(self, context: TaskContext, environment: dict[str, str], task_id: str) -> Path:
        name = environment.get(STAGE_ENV) or context.state_name
        if ITEM_ENV in environment:
            name += f"-{environment[ITEM_ENV]}"
        name = f"{path_segment(name)[:80]}.attempt{context.attempt}.{task_id[:8]}.log"
        return self.log_root / path_segment(context.execution_name) / name

    def _start(self, record: TaskRecord) -> None:
        private_directory(record.log_path.parent, self.log_root)
        # A fresh, private home and scratch folder per task, as a container's /tmp is.
        scratch = private_directory(self._scratch(record), self.log_root)
        record.scratch = scratch
        base = self.base_env_provider() if self.base_env_provider else self.base_env
        env = {**base, "HOME": str(scratch), "TMPDIR": str(scratch)}
        if record.definition is not None:
            env.update(record.definition.environment)  # the overrides' come after, and win
        env.update(record.environment)
        env.setdefault(ATTEMPT_ENV, str(record.context.attempt))
        try:
            record.process = self.launcher.start(record, env)
        except ImageNotFound as missing:
            self._failed_to_start(record, CANNOT_PULL.format(image=missing.image))
            return
        except OSError as error:
            self._failed_to_start(record, f"CannotStartContainerError: {error}")
            return
        record.started_at = time.time()
        waiter = threading.Thread(target=self._wait, args=(record,), daemon=True)
        self._threads.append(waiter)
        waiter.start()

    @staticmethod
    def _scratch(record: TaskRecord) -> Path:
        # One folder per task beside the logs, none shared: tasks start and end concurrently.
        return record.log_path.parent / f".scratch-{record.task_arn.rsplit('/', 1)[-1]}"

    @staticmethod
    def _failed_to_start(record: TaskRecord, reason: str) -> None:
        """As on ECS: the task exists, but stops without ever running its container."""
        record.stopped_at = time.time()
        record.stop_code = "TaskFailedToStart"
        record.stopped_reason = reason
        record.done.set()

    def _copy_output(self, record: TaskRecord) -> None:
        """Copies the task's output, line by line, to its log file and the live sink."""
        process = record.process
        assert process is not None
        assert process.stdout is not None
        with private_file(record.log_path) as log:
            for raw in iter(process.stdout.readline, b""):
                log.write(raw)
                log.flush()
                record.said_something.set()
                if self.on_line is not None:
                    self.on_line(record, raw.decode("utf-8", "replace").rstrip("\n"))

    def _wait(self, record: TaskRecord) -> None:
        """Records the exit code once the entrypoint has gone. Like a container whose PID 1
        exits, whatever the task left running is ended then, so no process outlives it."""
        process = record.process
        assert process is not None
        reader = threading.Thread(target=self._copy_output, args=(record,), daemon=True)
        reader.start()
        returncode = process.wait()
        # Output still open after the entrypoint exited means something it started lives
        # on: end it now. (Leftovers that closed their output are ended at shutdown.)
        reader.join(timeout=0.1)
        if reader.is_alive():
            self.launcher.reap([record])
            reader.join()
        # Containers report death by signal N as 128+N (137 for SIGKILL), not as -N.
        record.exit_code = 128 - returncode if returncode < 0 else returncode
        record.container_reason = self.launcher.exit_reason(record)
        # Like a stopped container's /tmp, the scratch folder goes (it may hold secrets).
        shutil.rmtree(self._scratch(record), ignore_errors=True)
        record.stopped_at = time.time()
        if record.stop_code is None:
            record.stop_code = ESSENTIAL_EXITED
            record.stopped_reason = "Essential container in task exited"
        record.done.set()
