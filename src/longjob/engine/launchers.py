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
from longjob.engine.exceptions import RuntimeUnavailable
from longjob.engine.task_record import TaskRecord

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
        if not shutil.which(engine):
            raise RuntimeUnavailable(f"--runtime {engine}: '{engine}' is not installed")
        probe = subprocess.run(
            [*engine_command(engine), "image", "inspect", image],
            capture_output=True,
            check=False,
        )
        if probe.returncode != 0:
            raise RuntimeUnavailable(
                f"--runtime {engine}: image {image} not found (build it with `make image`)"
            )

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
            task_flags += definition.container_flags()
            for mount in definition.mounts:
                volume = self._volume(record, mount.container_path)
                suffix = ":ro" if mount.read_only else ""
                task_flags += ["-v", f"{volume}:{mount.container_path}{suffix}"]
        return subprocess.Popen(
            [
                *engine_command(self.name),
                "run",
                "--rm",
                "--name",
                self.container_name(record),
                *run_flags(self.name),
                *task_flags,
                *env_flags,
                self.image,
                *record.command,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

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
        """The engine removes the container with its PID 1; nothing is left behind."""


def make_launcher(runtime: str, project: Path, image: str = DEFAULT_IMAGE) -> Launcher:
    if runtime == "process":
        return ProcessLauncher(project)
    if runtime in {"podman", "docker"}:
        return ContainerLauncher(runtime, image)
    raise RuntimeUnavailable(f"unknown runtime {runtime!r} (process, podman or docker)")
