"""How a local task is started and stopped: as a child process, or in a container."""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Protocol

import psutil

from longjob.containers import DEFAULT_IMAGE, engine_command, fargate_bind_mount, run_flags
from longjob.engine.exceptions import ImageNotFound, RuntimeUnavailable
from longjob.engine.oom_watch import OomWatch
from longjob.engine.task_record import TaskRecord

# ECS's reason for a container the kernel killed for memory (docs/aws-facts.md).
OUT_OF_MEMORY = "OutOfMemoryError: Container killed due to memory usage"

# Every process of a task carries this variable, inherited by all its descendants, so the
# runtime can find them all again even after they were re-parented (a container's PID 1
# exiting takes its whole container with it; a process tree does not do that by itself).
TASK_MARKER = "LONGJOB_LOCAL_TASK_ID"


@functools.cache
def _spawner() -> concurrent.futures.ThreadPoolExecutor:
    """One thread, for the whole process, that starts task processes (see ProcessLauncher)."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="spawner")


class Launcher(Protocol):
    name: str

    def start(self, record: TaskRecord, env: dict[str, str]) -> subprocess.Popen[bytes]: ...

    def terminate(self, record: TaskRecord) -> None:
        """Ask the task to stop (SIGTERM to the entrypoint, as ECS sends it)."""

    def kill(self, record: TaskRecord) -> None:
        """Stop the task now (SIGKILL), every process of it."""

    def reap(self, records: list[TaskRecord]) -> None:
        """End whatever these tasks' entrypoints left behind once they exited."""

    def exit_reason(self, record: TaskRecord) -> str | None:
        """ECS's reason for the container of a task that exited, if it has one."""


def default_command(project: Path) -> list[str]:
    """The image's CMD, used when a task has no command override."""
    dockerfile = project / "container" / "Dockerfile"
    if dockerfile.exists():
        match = re.search(r"^CMD\s+(\[.*\])\s*$", dockerfile.read_text(), re.MULTILINE)
        if match:
            return list(json.loads(match.group(1)))
    return []


class ProcessLauncher:
    """Runs ``container/entrypoint.sh`` of the project as a child process."""

    name = "process"

    def __init__(self, project: Path) -> None:
        self.project = project.resolve()
        self.entrypoint = self.project / "container" / "entrypoint.sh"
        if not self.entrypoint.is_file():
            raise RuntimeUnavailable(
                f"{self.entrypoint} not found: run from a longjob project or pass --project"
            )
        self._default_command = default_command(project)
        # A task dies with the engine even when the engine cannot stop it (kill -9): the
        # entrypoint gets SIGTERM, which it forwards to the script, as ECS would send it.
        # The signal comes when the *thread* that started the process ends, so every task is
        # started from one thread that lives as long as the engine process.
        setpriv = shutil.which("setpriv")
        self._die_with_parent = [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []
        self._spawner = _spawner()

    def start(self, record: TaskRecord, env: dict[str, str]) -> subprocess.Popen[bytes]:
        command = record.command or self._default_command
        env = dict(env)
        env[TASK_MARKER] = record.task_arn
        # The interpreter the engine runs under has boto3: scripts' `python` should too.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        return self._spawner.submit(
            subprocess.Popen,
            [*self._die_with_parent, str(self.entrypoint), *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.project / "container",
            start_new_session=True,
        ).result()

    def terminate(self, record: TaskRecord) -> None:
        if record.process is not None and record.process.poll() is None:
            record.process.send_signal(signal.SIGTERM)

    def kill(self, record: TaskRecord) -> None:
        self.reap([record])

    def exit_reason(self, record: TaskRecord) -> str | None:
        return None  # a process has no memory limit here, so no kill for memory

    def reap(self, records: list[TaskRecord]) -> None:
        # One pass over the process table: reading every environment is not free.
        arns = {record.task_arn for record in records}
        if not arns:
            return
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if process.environ().get(TASK_MARKER) in arns:
                    process.kill()


class ContainerLauncher:
    """Runs the toolbox image with Podman or Docker."""

    def __init__(self, engine: str, image: str = DEFAULT_IMAGE) -> None:
        self.name = engine
        self.image = image
        # A volume's first content, made once per path the way Fargate makes it (the
        # image's folder if it declares a VOLUME there, else empty), copied for each task.
        self._volume_seeds: dict[str, Path] = {}
        self._seed_lock = threading.Lock()
        self._oom: dict[str, OomWatch] = {}
        if not shutil.which(engine):
            raise RuntimeUnavailable(f"--runtime {engine}: '{engine}' is not installed")

    def has_image(self) -> bool:
        probe = subprocess.run(
            [*engine_command(self.name), "image", "inspect", self.image],
            capture_output=True,
            check=False,
        )
        return probe.returncode == 0

    @staticmethod
    def container_name(record: TaskRecord) -> str:
        return "longjob-" + record.task_arn.rsplit("/", 1)[-1]

    def _volume(self, record: TaskRecord, path: str) -> Path:
        """The task's own copy of a volume at ``path``, as Fargate makes it."""
        assert record.scratch is not None
        with self._seed_lock:
            seed = self._volume_seeds.get(path)
            if seed is None:
                seeds = Path(tempfile.mkdtemp(prefix="longjob-volumes-"))
                weakref.finalize(self, shutil.rmtree, seeds, True)
                seed = fargate_bind_mount(self.name, self.image, path, seeds / "seed")
                self._volume_seeds[path] = seed
        target = record.scratch / ("volume" + path.replace("/", "-"))
        # cp -a keeps what Fargate's copy keeps: owners, modes, the folder's own mode.
        subprocess.run(["cp", "-a", str(seed), str(target)], check=True)
        return target

    def start(self, record: TaskRecord, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Runs the task's container; ImageNotFound when the image is not there (a task
        whose tag is missing from its repository stops that way on ECS)."""
        if not self.has_image():
            raise ImageNotFound(self.image)
        definition = record.definition
        # Values travel in the client's environment (-e NAME), never on its command line.
        names = (
            [name for name in (definition.environment if definition else {})]
            + [name for name in record.environment]
            + [name for name in env if name.startswith("AWS_") or name.startswith("LONGJOB_")]
        )
        env_flags = [flag for name in dict.fromkeys(names) for flag in ("-e", name)]
        task_flags: list[str] = []
        if definition is not None:
            # RunTask's task-level overrides (a stage's cpu and memory) size the container.
            overrides = record.request.get("overrides", {})
            task_flags += definition.container_flags(overrides.get("cpu"), overrides.get("memory"))
            for mount in definition.mounts:
                volume = self._volume(record, mount.container_path)
                suffix = ":ro" if mount.read_only else ""
                task_flags += ["-v", f"{volume}:{mount.container_path}{suffix}"]
        base = engine_command(self.name)
        # create, init, then start: the container's cgroup exists before its first process
        # runs, so the OOM watch (cgroup v1 hosts) misses no kill, however early.
        create = subprocess.run(
            [
                *base,
                "create",
                "--name",
                self.container_name(record),
                *run_flags(self.name),
                *task_flags,
                *env_flags,
                self.image,
                *record.command,
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if create.returncode != 0:
            raise OSError(f"{self.name} create: {create.stderr.strip()}")
        container_id = create.stdout.strip()
        if self.name == "podman":  # (docker has no container init; its OOMKilled is exact)
            subprocess.run([*base, "init", container_id], capture_output=True, check=False)
        if self.name == "podman" and OomWatch.supported():
            watch = OomWatch.for_container(container_id)
            if watch is not None and watch.start():
                self._oom[record.task_arn] = watch
        return subprocess.Popen(
            [*base, "start", "--attach", container_id],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def exit_reason(self, record: TaskRecord) -> str | None:
        """The container's reason once it exited (ECS's, for a kill for memory); removes
        the container."""
        base = engine_command(self.name)
        name = self.container_name(record)
        state = subprocess.run(
            [*base, "inspect", "--format", "{{.State.OOMKilled}}", name],
            capture_output=True,
            text=True,
            check=False,
        )
        subprocess.run([*base, "rm", "--force", name], capture_output=True, check=False)
        watch = self._oom.pop(record.task_arn, None)
        if state.stdout.strip() == "true" or (watch is not None and watch.killed.is_set()):
            return OUT_OF_MEMORY
        return None

    def _signal(self, record: TaskRecord, sig: str) -> None:
        subprocess.run(
            [*engine_command(self.name), "kill", "--signal", sig, self.container_name(record)],
            capture_output=True,
            check=False,
        )

    def terminate(self, record: TaskRecord) -> None:
        self._signal(record, "TERM")

    def kill(self, record: TaskRecord) -> None:
        self._signal(record, "KILL")

    def reap(self, records: list[TaskRecord]) -> None:
        """The container ends with its PID 1 and exit_reason removes it; a run that ends
        early (Ctrl-C, an error) removes what is left here."""
        base = engine_command(self.name)
        for record in records:
            subprocess.run(
                [*base, "rm", "--force", self.container_name(record)],
                capture_output=True,
                check=False,
            )


class UnavailableLauncher:
    """Stands in for a runtime this machine lacks: a task that reaches it fails to start, as
    a container ECS cannot start does. (A test whose ECS tasks are all mocked needs none.)"""

    name = "none"

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def start(self, record: TaskRecord, env: dict[str, str]) -> subprocess.Popen[bytes]:
        raise OSError(self.reason)

    def terminate(self, record: TaskRecord) -> None:
        """Nothing runs."""

    def kill(self, record: TaskRecord) -> None:
        """Nothing runs."""

    def reap(self, records: list[TaskRecord]) -> None:
        """Nothing was left."""

    def exit_reason(self, record: TaskRecord) -> str | None:
        return None


def make_launcher(runtime: str, project: Path, image: str = DEFAULT_IMAGE) -> Launcher:
    if runtime == "process":
        return ProcessLauncher(project)
    if runtime in {"podman", "docker"}:
        return ContainerLauncher(runtime, image)
    raise RuntimeUnavailable(f"unknown runtime {runtime!r} (process, podman or docker)")
