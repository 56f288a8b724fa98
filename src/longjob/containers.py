"""How this project drives Podman (and Docker): one place for the storage location and the
flags a sandboxed machine needs, shared by the image build, the tests and the runtime."""

from __future__ import annotations

import os
import resource
import shutil
from pathlib import Path

DEFAULT_IMAGE = "localhost/longjob-toolbox:dev"


def podman_root() -> Path:
    """Podman storage of longjob's own, apart from the host's (see tools/build-image.sh)."""
    configured = os.environ.get("LONGJOB_PODMAN_ROOT")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "longjob" / "podman"


def engine_command(engine: str) -> list[str]:
    """The base command of a container engine ("podman" or "docker")."""
    if engine == "podman":
        root = podman_root()
        return ["podman", "--root", str(root / "storage"), "--runroot", str(root / "run")]
    return [engine]


def run_flags(engine: str) -> list[str]:
    """Flags for ``run``: host networking (tasks reach 127.0.0.1 services such as the
    embedded AWS endpoint) and, for Podman, what a sandbox without full privileges needs:
    runc (crun rejects hybrid cgroups) and ulimits within the hard limits granted."""
    flags = ["--network=host"]
    if engine == "podman":
        if shutil.which("runc"):
            flags += ["--runtime", "runc"]
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if nofile == resource.RLIM_INFINITY:
            nofile = 1048576
        flags += ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=32768:32768"]
    return flags
