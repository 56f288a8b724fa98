"""Whether the kernel killed a container's process for memory, as ECS reports it.

ECS gives such a container the reason "OutOfMemoryError: Container killed due to memory
usage" (docs/aws-facts.md, "Why a task stopped"). Podman's ``State.OOMKilled`` says it on
cgroup v2 hosts, but not on cgroup v1 hosts with runc, where the kill goes unreported.
There, this asks the kernel itself: cgroup v1's OOM notification (an eventfd registered in
``cgroup.event_control`` for ``memory.oom_control``, registered after ``podman init`` made
the cgroup and before the first process runs) wakes a thread when the cgroup runs out of
memory. The eventfd also fires when the cgroup is removed; then the file is gone, so an
event while ``memory.oom_control`` can still be read is an OOM. (Its ``oom_kill`` counter is
not relied on: this kernel leaves it at 0 for a container whose process was killed.)
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

CGROUP_V1_MEMORY = Path("/sys/fs/cgroup/memory")


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

    @classmethod
    def for_container(cls, container_id: str) -> OomWatch | None:
        """The watch of a created container's memory cgroup (Podman names it after the
        container's id, under libpod_parent or a systemd slice), or None if not found."""
        for pattern in (f"libpod_parent/libpod-{container_id}", f"*/libpod-{container_id}*"):
            for found in CGROUP_V1_MEMORY.glob(pattern):
                if (found / "memory.oom_control").exists():
                    return cls(str(found.relative_to(CGROUP_V1_MEMORY)))
        return None

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
            (self.cgroup / "memory.oom_control").read_text()  # still there: not a removal
            self.killed.set()
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                os.close(event)
            with contextlib.suppress(OSError):
                os.close(control)
