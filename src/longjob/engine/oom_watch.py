"""Whether the kernel killed a container's process for memory, as ECS reports it.

ECS gives such a container the reason "OutOfMemoryError: Container killed due to memory
usage" (docs/aws-facts.md, "Why a task stopped"). Podman's ``State.OOMKilled`` says it on
cgroup v2 hosts, but not on cgroup v1 hosts with runc, where the kill goes unreported.
There, this asks the kernel itself: cgroup v1's OOM notification (an eventfd registered in
``cgroup.event_control`` for ``memory.oom_control``) wakes a thread at the moment of the
OOM, while the container still exists, and ``oom_kill`` in ``memory.oom_control`` says
whether a process was killed. (The eventfd also fires when the cgroup is removed; then the
file is gone and nothing is recorded.)
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

CGROUP_V1_MEMORY = Path("/sys/fs/cgroup/memory")


def oom_kills(cgroup: Path) -> int:
    """The kernel's count of OOM kills in a cgroup v1 memory cgroup (0 when unknown)."""
    try:
        text = (cgroup / "memory.oom_control").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == "oom_kill" and value.strip().isdigit():
            return int(value)
    return 0


class OomWatch:
    """Watches one cgroup v1 memory cgroup from a daemon thread; ``killed`` is set when
    the kernel killed a process in it for memory."""

    def __init__(self, cgroup_path: str) -> None:
        self.cgroup = CGROUP_V1_MEMORY / cgroup_path.lstrip("/")
        self.killed = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def supported() -> bool:
        return (CGROUP_V1_MEMORY / "cgroup.event_control").exists() and hasattr(os, "eventfd")

    def start(self) -> bool:
        """Registers for the cgroup's OOM notification; False when that is not possible."""
        try:
            control = os.open(self.cgroup / "memory.oom_control", os.O_RDONLY)
        except OSError:
            return False
        event = os.eventfd(0)
        try:
            (self.cgroup / "cgroup.event_control").write_text(f"{event} {control}")
        except OSError:
            os.close(event)
            os.close(control)
            return False
        self._thread = threading.Thread(target=self._wait, args=(event, control), daemon=True)
        self._thread.start()
        return True

    def _wait(self, event: int, control: int) -> None:
        try:
            os.eventfd_read(event)
            if oom_kills(self.cgroup) > 0:
                self.killed.set()
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                os.close(event)
            with contextlib.suppress(OSError):
                os.close(control)
