"""`longjob run --runtime podman`: tasks run in the toolbox image the image tests build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import FIXTURES
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
