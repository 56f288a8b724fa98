"""How this project drives Podman (and Docker): one place for the storage location and the
flags a sandboxed machine needs, shared by the image build, the tests and the runtime."""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import subprocess
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


def fargate_bind_mount(engine: str, image: str, container_path: str, host_dir: Path) -> Path:
    """``host_dir`` made as Fargate makes a task's bind-mount volume for ``container_path``:
    an empty directory owned by root with mode 0755, unless the image declares a VOLUME at
    that path; then the image's directory (content, owner and mode) is copied into it
    (ECS "Bind mounts", docs/aws-facts.md). Mount it with ``-v host_dir:container_path``."""
    base = engine_command(engine)
    host_dir.mkdir(parents=True)
    os.chown(host_dir, 0, 0)
    host_dir.chmod(0o755)
    inspect = subprocess.run(
        [*base, "image", "inspect", "--format", "{{json .Config.Volumes}}", image],
        capture_output=True,
        text=True,
        check=True,
    )
    declared = json.loads(inspect.stdout or "null") or {}
    if container_path not in declared:
        return host_dir
    # The image's own tools copy the directory as root, preserving owners and modes.
    copy = (
        f"cp -a {shlex.quote(container_path)}/. /longjob-volume/ && "
        f"stat -c '%a %u %g' {shlex.quote(container_path)}"
    )
    result = subprocess.run(
        [
            *base,
            "run",
            "--rm",
            *run_flags(engine),
            "--user",
            "0:0",
            "--entrypoint",
            "sh",
            "-v",
            f"{host_dir}:/longjob-volume",
            image,
            "-c",
            copy,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    mode, uid, gid = result.stdout.split()
    os.chown(host_dir, int(uid), int(gid))
    host_dir.chmod(int(mode, 8))
    return host_dir
