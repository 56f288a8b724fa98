"""The task definition a local task runs under, as the stack registers it.

What the local runtime applies (docs/design.md §9): the container's user, read-only root file
system, volumes mounted as Fargate mounts them, stop timeout, environment, CPU and memory
limits and ulimits (with Podman/Docker; a process can only get the environment, the stop
timeout and a private /tmp), and what DescribeTasks reports of it (task size, ephemeral
storage, CPU architecture, image).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from longjob_core.contract import CONTAINER_NAME

# Fargate's defaults when a task definition leaves them out.
DEFAULT_EPHEMERAL_GIB = 20
ARCHITECTURES = {"X86_64": "x86_64", "ARM64": "arm64"}


@dataclass(frozen=True)
class Mount:
    container_path: str
    volume: str
    read_only: bool = False


@dataclass(frozen=True)
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass(frozen=True)
class TaskDefinition:
    family: str
    arn: str | None = None
    cpu: str = "256"
    memory: str = "512"
    ephemeral_gib: int = DEFAULT_EPHEMERAL_GIB
    architecture: str = "x86_64"  # as ECS reports it in the ecs.cpu-architecture attribute
    container: str = CONTAINER_NAME
    image: str | None = None
    user: str | None = None
    readonly_root: bool = False
    mounts: tuple[Mount, ...] = ()
    stop_timeout: float | None = None
    environment: dict[str, str] = field(default_factory=dict)
    essential: bool = True
    ulimits: tuple[Ulimit, ...] = ()
    task_role_arn: str | None = None
    execution_role_arn: str | None = None

    @classmethod
    def from_properties(cls, properties: dict[str, Any], arn: str | None) -> TaskDefinition:
        """From an ``AWS::ECS::TaskDefinition``'s (resolved) properties."""
        containers = properties.get("ContainerDefinitions") or [{}]
        if len(containers) != 1:
            raise ValueError("a longjob task definition has one container")
        container = containers[0]
        platform = properties.get("RuntimePlatform", {})
        stop = container.get("StopTimeout")
        return cls(
            family=str(properties.get("Family", "")),
            arn=arn,
            cpu=str(properties.get("Cpu", "256")),
            memory=str(properties.get("Memory", "512")),
            ephemeral_gib=int(
                properties.get("EphemeralStorage", {}).get("SizeInGiB", DEFAULT_EPHEMERAL_GIB)
            ),
            architecture=ARCHITECTURES.get(
                str(platform.get("CpuArchitecture", "X86_64")), "x86_64"
            ),
            container=str(container.get("Name", CONTAINER_NAME)),
            image=str(container["Image"]) if container.get("Image") else None,
            user=str(container["User"]) if container.get("User") else None,
            readonly_root=bool(container.get("ReadonlyRootFilesystem", False)),
            mounts=tuple(
                Mount(
                    str(point["ContainerPath"]),
                    str(point["SourceVolume"]),
                    bool(point.get("ReadOnly", False)),
                )
                for point in container.get("MountPoints", [])
            ),
            stop_timeout=None if stop is None else float(stop),
            environment={str(e["Name"]): str(e["Value"]) for e in container.get("Environment", [])},
            essential=bool(container.get("Essential", True)),
            ulimits=tuple(
                Ulimit(str(u["Name"]), int(u["SoftLimit"]), int(u["HardLimit"]))
                for u in container.get("Ulimits", [])
            ),
            task_role_arn=properties.get("TaskRoleArn"),
            execution_role_arn=properties.get("ExecutionRoleArn"),
        )

    def container_flags(self, cpu: str | None = None, memory: str | None = None) -> list[str]:
        """``podman run`` / ``docker run`` flags for what the container definition sets
        (mounts are the launcher's: they need a host folder per task), sized by the task's
        ``cpu`` and ``memory`` when RunTask overrides them."""
        flags = []
        if self.readonly_root:
            flags.append("--read-only")
        if self.user:
            flags += ["--user", self.user]
        # Fargate's task size is the container's ceiling here (one container per task).
        cpu, memory = cpu or self.cpu, memory or self.memory
        flags += ["--cpus", f"{int(cpu) / 1024:g}", "--memory", f"{int(memory)}m"]
        for limit in self.ulimits:
            flags += ["--ulimit", f"{limit.name}={limit.soft}:{limit.hard}"]
        return flags
