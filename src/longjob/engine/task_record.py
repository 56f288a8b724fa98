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
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    stopping_at: float | None = None
    stopped_at: float | None = None
    exit_code: int | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    process: subprocess.Popen[bytes] | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def label(self) -> str:
        """The prefix of this task's live lines: the stage (or state) and the item."""
        name = self.environment.get(STAGE_ENV) or self.context.state_name
        return label(name, self.environment.get(ITEM_ENV))

    @property
    def last_status(self) -> str:
        if self.done.is_set():
            return "STOPPED"
        return "DEACTIVATING" if self.stopping_at else "RUNNING"

    def describe(self) -> dict[str, Any]:
        """The task description in botocore's (camelCase) DescribeTasks shape."""
        container: dict[str, Any] = {
            "containerArn": self.task_arn.replace(":task/", ":container/") + f"/{CONTAINER_NAME}",
            "taskArn": self.task_arn,
            "name": CONTAINER_NAME,
            "lastStatus": self.last_status,
            "networkBindings": [],
            "networkInterfaces": [],
        }
        description: dict[str, Any] = {
            "taskArn": self.task_arn,
            "clusterArn": self.cluster_arn,
            "taskDefinitionArn": self.task_definition_arn,
            "containers": [container],
            "lastStatus": self.last_status,
            "desiredStatus": "STOPPED" if self.stopping_at or self.done.is_set() else "RUNNING",
            "launchType": self.request.get("launchType", "FARGATE"),
            "platformVersion": self.request.get("platformVersion", "1.4.0"),
            "platformFamily": "Linux",
            "overrides": self.request.get("overrides", {}),
            "group": self.request.get("group", "family:" + self.task_definition_arn.split("/")[-1]),
            "startedBy": self.request.get("startedBy", ""),
            "createdAt": epoch_ms(self.created_at),
            "startedAt": epoch_ms(self.started_at),
            "connectivity": "CONNECTED",
            "version": 1,
            "tags": self.request.get("tags", []),
            "attachments": [],
        }
        overrides = self.request.get("overrides", {})
        for key in ("cpu", "memory"):
            if key in overrides:
                description[key] = str(overrides[key])
        if self.done.is_set():
            container["exitCode"] = self.exit_code
            description.update(
                stopCode=self.stop_code,
                stoppedReason=self.stopped_reason,
                stoppingAt=epoch_ms(self.stopping_at or self.stopped_at),
                stoppedAt=epoch_ms(self.stopped_at),
                executionStoppedAt=epoch_ms(self.stopped_at),
            )
        return {k: v for k, v in description.items() if v is not None}
