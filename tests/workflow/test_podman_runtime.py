"""`longjob run --runtime podman`: tasks run in the toolbox image the image tests build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longjob.engine.launchers import ContainerLauncher
from longjob.engine.local_engine import RunResult
from tests.conftest import ROOT

from .conftest import FIXTURES, run_on_local_stack
from .test_run_command import SUBS, longjob

pytestmark = pytest.mark.image


def test_tasks_run_in_the_image(image: str, project: Path) -> None:
    result = longjob(
        "run",
        "--definition",
        str(FIXTURES / "image_task.asl.json"),
        "--runtime",
        "podman",
        "--image",
        image,
        "--json",
        *SUBS,
        cwd=project,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["output"]["hello"] == {"exitCode": 0}
    assert "[Hello] Hello World From a Container" in result.stderr
    assert "[Hello] 2 parameters passed" in result.stderr
    # Inside the container, the entrypoint reached the embedded SSM and was told "not found".
    assert "DB_PASSWORD=ssm:/longjob/local/not-there: not found" in result.stderr
    assert document["output"]["secretExit"] == 125


def run_in_image(project: Path, image: str, document: dict) -> tuple[RunResult, dict]:
    result, summary, _ = run_on_local_stack(project, ContainerLauncher("podman", image), document)
    assert summary is not None
    return result, summary


def test_the_task_definition_applies_in_the_container(project: Path, scripts_image: str) -> None:
    """Read-only root file system; /tmp a volume made as Fargate makes it (the image's
    VOLUME: mode 1777); the task definition's user."""
    stages = [
        {"name": name, "run": ["bash", "t/write.sh", path], "onFailure": "continue"}
        for name, path in (("tmp", "/tmp/probe"), ("root", "/usr/src/app/probe"))
    ]
    result, summary = run_in_image(project, scripts_image, {"job": "probe", "stages": stages})
    by_stage = {s["name"]: s for s in summary["stages"]}
    assert by_stage["tmp"]["status"] == "SUCCEEDED", summary
    assert by_stage["root"]["status"] == "FAILED"
    logs = "\n".join(Path(t.log_file).read_text() for t in result.tasks)
    assert "wrote /tmp/probe in /tmp mode 1777" in logs
    assert "/usr/src/app/probe: Read-only file system" in logs


def test_the_backup_example_runs_in_the_image(project: Path, image: str) -> None:
    document = json.loads((ROOT / "jobs" / "examples" / "db-maintenance.json").read_text())
    _, summary = run_in_image(project, image, document)
    assert summary["status"] == "SUCCEEDED", summary
