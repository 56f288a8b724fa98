"""One local ECS task as the runtime keeps it: where it came from, what it runs, how it
ended, and its description in ECS's (botocore's camelCase) DescribeTasks shape."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longjob_core.contract import CONTAINER_NAME, ITEM_ENV, STAGE_ENV, label

from longjob.engine.task_definition import TaskDefinition


def path_segment(text: str) -> str:
    """``text`` as one safe file name: what an execution or stage is called can never make
    a path that leaves the run folder ("..", "/", control characters)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip(".") or "_"
    return safe


def epoch_ms(moment: float | None) -> int | None:
    return None if moment is None else int(moment * 1000)


@dataclass
class TaskContext:
    """Where a RunTask call came from: the state, its attempt, the execution."""

    state_name: str
    attempt: int
    execution_name: str


@dataclass
class TaskRecord:
    task_arn: str
    cluster_arn: str
    task_definition_arn: str
    request: dict[str, Any]
    context: TaskContext
    command: list[str]
    environment: dict[str, str]
    log_path: Path
    definition: TaskDefinition | None = None  # the task definition it runs under, if known
    scratch: Path | None = None  # the task's private folder (its volumes, HOME, TMPDIR)
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    stopping_at: float | None = None
    stopped_at: float | None = None
    exit_code: int | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    container_reason: str | None = None  # the container's own (ECS's containers[].reason)
    process: subprocess.Popen[bytes] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    said_something: threading.Event = field(default_factory=threading.Event)  # a first line

    @property
    def label(self) -> str:
        """The prefix of this task's live lines: the stage (or state) and the item."""
        name = self.environment.get(STAGE_ENV) or self.context.state_name
        return label(name, self.environment.get(ITEM_ENV))

    @property
    def capacity_provider(self) -> str | None:
        """The capacity provider the task runs on (the first of its strategy, as Fargate
        places a one-provider strategy), or None for a launch type."""
        strategy = self.request.get("capacityProviderStrategy") or []
        return strategy[0].get("capacityProvider") if strategy else None

    @property
    def last_status(self) -> str:
        if self.done.is_set():
            return "STOPPED"
        return "DEACTIVATING" if self.stopping_at else "RUNNING"

    def describe(self) -> dict[str, Any]:
        """The task description in botocore's (camelCase) DescribeTasks shape, with the
        fields ECS fills for a Fargate task (as recorded on AWS: docs/aws-facts.md)."""
        definition = self.definition or TaskDefinition(family="")
        task_id = self.task_arn.rsplit("/", 1)[-1]
        stopped = self.done.is_set()
        started = self.started_at is not None
        container: dict[str, Any] = {
            "containerArn": self.task_arn.replace(":task/", ":container/") + f"/{CONTAINER_NAME}",
            "taskArn": self.task_arn,
            "name": definition.container,
            "image": definition.image or "",
            "lastStatus": self.last_status,
            "networkBindings": [],
            "networkInterfaces": [],
            "cpu": "0",
            "gpuIds": [],
            "managedAgents": [],
        }
        if started:
            container["runtimeId"] = f"{task_id}-{CONTAINER_NAME}"
            container["imageDigest"] = "sha256:" + "0" * 64
        region = self.task_arn.split(":")[3]
        overrides = self.request.get("overrides", {})
        description: dict[str, Any] = {
            "attachments": [],
            "attributes": [{"name": "ecs.cpu-architecture", "value": definition.architecture}],
            "availabilityZone": f"{region}a",
            "taskArn": self.task_arn,
            "clusterArn": self.cluster_arn,
            "taskDefinitionArn": self.task_definition_arn,
            "containers": [container],
            "cpu": str(overrides.get("cpu", definition.cpu)),
            "memory": str(overrides.get("memory", definition.memory)),
            "ephemeralStorage": {
                "sizeInGiB": overrides.get("ephemeralStorage", {}).get(
                    "sizeInGiB", definition.ephemeral_gib
                )
            },
            "enableExecuteCommand": bool(self.request.get("enableExecuteCommand", False)),
            "inferenceAccelerators": [],
            "lastStatus": self.last_status,
            "desiredStatus": "STOPPED" if self.stopping_at or stopped else "RUNNING",
            "launchType": self.request.get("launchType", "FARGATE"),
            "capacityProviderName": self.capacity_provider,
            "platformVersion": self.request.get("platformVersion", "1.4.0"),
            "overrides": overrides,
            "group": self.request.get("group", "family:" + self.task_definition_arn.split("/")[-1]),
            "startedBy": self.request.get("startedBy", ""),
            "createdAt": epoch_ms(self.created_at),
            "tags": self.request.get("tags", []),
            "version": 1,
        }
        if started:
            description.update(
                connectivity="CONNECTED",
                connectivityAt=epoch_ms(self.created_at),
                pullStartedAt=epoch_ms(self.created_at),
                pullStoppedAt=epoch_ms(self.started_at),
                startedAt=epoch_ms(self.started_at),
                version=2,
            )
        if stopped:
            if self.exit_code is not None:
                container["exitCode"] = self.exit_code
            if self.container_reason is not None:
                container["reason"] = self.container_reason
            description.update(
                stopCode=self.stop_code,
                stoppedReason=self.stopped_reason,
                stoppingAt=epoch_ms(self.stopping_at or self.stopped_at),
                stoppedAt=epoch_ms(self.stopped_at),
                executionStoppedAt=epoch_ms(self.stopped_at),
                version=5 if started else 3,
            )
        return {k: v for k, v in description.items() if v is not None}
