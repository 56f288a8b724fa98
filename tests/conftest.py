"""Fixtures shared by every test folder: the project root and an embedded AWS endpoint."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto server on 127.0.0.1 (random port): scripts reach it over HTTP."""
    port = free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("moto_server did not start")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def aws_env(moto_endpoint: str) -> dict[str, str]:
    """Environment for child processes: fake credentials and the embedded endpoint only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


@pytest.fixture(scope="session")
def aws_session(aws_env: dict[str, str]) -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )


@pytest.fixture
def s3(aws_session: boto3.session.Session, moto_endpoint: str):
    return aws_session.client("s3", endpoint_url=moto_endpoint)


@pytest.fixture
def bucket(s3) -> str:
    name = f"longjob-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def toolbox(tmp_path: Path) -> Path:
    """A copy of container/ (entrypoint, lib, scripts) that a test may add scripts to."""
    dest = tmp_path / "toolbox"
    shutil.copytree(ROOT / "container", dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


IMAGE_TAG = "localhost/longjob-toolbox:test"


@pytest.fixture(scope="session")
def image(pytestconfig: pytest.Config) -> str:
    """The toolbox image, built once per session with tools/build-image.sh (Podman).

    Skipped, with the reason shown, only where Podman cannot be installed; CI sets
    LONGJOB_REQUIRE_IMAGE=1 so that a missing Podman fails the run instead."""
    missing = [tool for tool in ("podman", "runc", "debootstrap") if not shutil.which(tool)]
    if missing:
        reason = f"toolbox image not built: {', '.join(missing)} not installed"
        if os.environ.get("LONGJOB_REQUIRE_IMAGE") == "1":
            pytest.fail(reason + " (LONGJOB_REQUIRE_IMAGE=1)")
        pytest.skip(reason)
    build = subprocess.run(
        [str(ROOT / "tools" / "build-image.sh"), IMAGE_TAG],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    # The build time and image size belong in the CI log, so bypass output capturing.
    with pytestconfig.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print("\n" + build.stdout.strip())
    return IMAGE_TAG
