"""The toolbox image, built with Podman from a locally made Debian base and run for real
(the `image` fixture in tests/conftest.py builds it)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from longjob.containers import engine_command, fargate_bind_mount, run_flags
from tests.conftest import ROOT
from tests.container.test_pg_scripts import psql, scratch_databases

pytestmark = pytest.mark.image

PODMAN = engine_command("podman")


def run_in_image(
    image: str,
    *args: str,
    env: dict[str, str] | None = None,
    fargate_tmp: Path | None = None,
    entrypoint: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs the image; with ``fargate_tmp``, as the task definition runs it on Fargate: a
    read-only root file system and that directory (see fargate_bind_mount) at /tmp."""
    flags = [f for k, v in (env or {}).items() for f in ("-e", f"{k}={v}")]
    if fargate_tmp is not None:
        flags += ["--read-only", "--read-only-tmpfs=false", "-v", f"{fargate_tmp}:/tmp"]
    if entrypoint is not None:
        flags += ["--entrypoint", entrypoint]
    return subprocess.run(
        [*PODMAN, "run", "--rm", *run_flags("podman"), *flags, image, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def fargate_tmp(image: str, tmp_path: Path) -> Path:
    return fargate_bind_mount("podman", image, "/tmp", tmp_path / "scratch")


def test_tmp_mounted_as_fargate_mounts_it_is_writable_by_the_image_user(
    image: str, fargate_tmp: Path
) -> None:
    """Fargate's scratch volume is root-owned 0755 unless the image declares VOLUME /tmp:
    the toolbox user (10001) must still be able to create files there, and nothing else."""
    result = run_in_image(
        image,
        "-c",
        'id -u; f=$(mktemp) && echo written > "$f" && echo ok; touch /usr/src/app/x',
        fargate_tmp=fargate_tmp,
        entrypoint="bash",
    )
    assert result.stdout.split() == ["10001", "ok"], result.stderr
    assert "Read-only file system" in result.stderr
    assert oct(fargate_tmp.stat().st_mode & 0o7777) == "0o1777"


@pytest.mark.parametrize(("interpreter", "script"), [("python", "test.py"), ("bash", "test.sh")])
def test_original_calls_match_the_workstation_output(
    image: str, interpreter: str, script: str
) -> None:
    inside = run_in_image(image, interpreter, script, "param1 param2")
    outside = subprocess.run(
        [str(ROOT / "container" / "entrypoint.sh"), interpreter, script, "param1 param2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert inside.returncode == outside.returncode == 0
    assert inside.stdout == outside.stdout == "Hello World From a Container\n2 parameters passed\n"


def test_runs_as_a_non_root_user(image: str) -> None:
    result = subprocess.run(
        [*PODMAN, "image", "inspect", "--format", "{{.Config.User}} {{.Config.WorkingDir}}", image],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["10001:10001", "/usr/src/app"]


def test_script_failure_is_the_container_exit_code(image: str) -> None:
    result = run_in_image(image, "bash", "pg_backup.sh", "--", "--no-such-flag")
    assert result.returncode == 2
    assert "unknown argument '--no-such-flag'" in result.stderr


def test_refusals_inside_the_image(image: str) -> None:
    assert run_in_image(image, "perl", "test.sh").returncode == 126
    assert run_in_image(image, "bash", "../entrypoint.sh").returncode == 126
    assert run_in_image(image, "bash", "nope.sh").returncode == 127


def test_backup_and_restore_check_from_the_image(
    image: str, aws_env, aws_session, moto_endpoint, s3, bucket, fargate_tmp: Path
) -> None:
    """The image's own clients (pg_dump 15, aws, boto3) against the real server and S3, run
    as Fargate runs them: read-only root file system, /tmp as Fargate mounts it."""
    scratch = fargate_tmp
    name = f"longjob_img_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {name}")
    try:
        psql("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 10);", database=name)
        secret = f"/longjob/test/{uuid.uuid4().hex[:8]}/pg"
        aws_session.client("ssm", endpoint_url=moto_endpoint).put_parameter(
            Name=secret, Value="unused-with-trust-auth", Type="SecureString"
        )
        env = {
            "AWS_ENDPOINT_URL": moto_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PGHOST": "127.0.0.1",
            "PGUSER": "root",
            "PGPASSWORD": f"ssm:{secret}",
            "BUCKET": bucket,
            "LONGJOB_STAGE": "backup",
        }
        backup = run_in_image(
            image, "bash", "pg_backup.sh", "--", "--database", name, env=env, fargate_tmp=scratch
        )
        assert backup.returncode == 0, backup.stderr
        assert "unused-with-trust-auth" not in backup.stdout + backup.stderr
        assert '"stage":"backup"' in backup.stderr
        before = scratch_databases()
        check = run_in_image(
            image,
            "bash",
            "pg_restore_check.sh",
            "--",
            "--database",
            name,
            "--query",
            "SELECT count(*) FROM t",
            env=env,
            fargate_tmp=scratch,
        )
        assert check.returncode == 0, check.stderr
        assert "sanity query ok (10)" in check.stdout
        assert scratch_databases() == before
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
