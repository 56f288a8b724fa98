"""pg_backup.sh and pg_restore_check.sh against the real PostgreSQL here and S3 on moto."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT

ENTRYPOINT = str(ROOT / "container" / "entrypoint.sh")
PG = {"PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "root", "PGDATABASE": "test"}


def psql(sql: str, database: str = "test") -> str:
    return subprocess.run(
        [
            "psql",
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-d",
            database,
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def scratch_databases() -> set[str]:
    return set(psql("SELECT datname FROM pg_database WHERE datname LIKE 'longjob_check_%'").split())


@pytest.fixture
def source_db() -> Iterator[str]:
    name = f"longjob_src_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {name}")
    psql(
        "CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL, qty int);"
        "INSERT INTO orders (item, qty) SELECT 'item ' || g, g FROM generate_series(1, 500) g;"
        "CREATE TABLE users (id int PRIMARY KEY, name text);"
        "INSERT INTO users VALUES (1, 'ada'), (2, 'grace');",
        database=name,
    )
    yield name
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run_script(env: dict[str, str], script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ENTRYPOINT, "bash", script, "--", *args],
        capture_output=True,
        text=True,
        env=env | PG,
        timeout=120,
        check=False,
    )


def test_backup_then_restore_check_round_trip(aws_env, s3, bucket: str, source_db: str) -> None:
    before = scratch_databases()
    backup = run_script(aws_env, "pg_backup.sh", "--database", source_db, "--bucket", bucket)
    assert backup.returncode == 0, backup.stderr

    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert len(keys) == 2
    dump_key, sum_key = keys
    assert dump_key.startswith(f"postgres/{source_db}/{source_db}-")
    assert dump_key.endswith(".dump")
    assert sum_key == dump_key + ".sha256"
    body = s3.get_object(Bucket=bucket, Key=dump_key)["Body"].read()
    assert body.startswith(b"PGDMP")  # pg_dump custom format, compressed
    digest = hashlib.sha256(body).hexdigest()
    sidecar = s3.get_object(Bucket=bucket, Key=sum_key)["Body"].read().decode()
    assert sidecar == f"{digest}  {dump_key.rsplit('/', 1)[1]}\n"
    assert f"s3://{bucket}/{dump_key} ({len(body)} bytes, sha256 {digest})" in backup.stdout

    check = run_script(
        aws_env,
        "pg_restore_check.sh",
        "--database",
        source_db,
        "--bucket",
        bucket,
        "--min-tables",
        "2",
        "--query",
        "SELECT count(*) FROM orders WHERE qty > 0",
    )
    assert check.returncode == 0, check.stderr
    assert "restored 2 user tables" in check.stdout
    assert "sanity query ok (500)" in check.stdout
    assert "restores cleanly" in check.stdout
    assert scratch_databases() == before


def test_restore_check_fails_when_the_sanity_query_fails(
    aws_env, bucket: str, source_db: str
) -> None:
    assert (
        run_script(aws_env, "pg_backup.sh", "--database", source_db, "--bucket", bucket).returncode
        == 0
    )
    before = scratch_databases()
    for query, message in [
        ("SELECT count(*) FROM orders WHERE qty > 1000", "sanity query returned '0'"),
        ("SELECT count(*) FROM missing_table", "sanity query failed"),
    ]:
        check = run_script(
            aws_env,
            "pg_restore_check.sh",
            "--database",
            source_db,
            "--bucket",
            bucket,
            "--query",
            query,
        )
        assert check.returncode == 1
        assert message in check.stderr
    too_many = run_script(
        aws_env,
        "pg_restore_check.sh",
        "--database",
        source_db,
        "--bucket",
        bucket,
        "--min-tables",
        "3",
    )
    assert too_many.returncode == 1
    assert "has 2 user tables, expected at least 3" in too_many.stderr
    assert scratch_databases() == before


def test_corrupted_backup_fails_the_restore_check(aws_env, s3, bucket: str, source_db: str) -> None:
    assert (
        run_script(aws_env, "pg_backup.sh", "--database", source_db, "--bucket", bucket).returncode
        == 0
    )
    dump_key = next(
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket)["Contents"]
        if o["Key"].endswith(".dump")
    )
    body = s3.get_object(Bucket=bucket, Key=dump_key)["Body"].read()
    before = scratch_databases()

    # Bit rot after the backup was written: the checksum catches it before any restore.
    s3.put_object(Bucket=bucket, Key=dump_key, Body=body[:-200] + b"\0" * 200)
    check = run_script(aws_env, "pg_restore_check.sh", "--key", dump_key, "--bucket", bucket)
    assert check.returncode == 1
    assert "checksum mismatch" in check.stderr

    # A truncated dump with a matching checksum (a bad backup): pg_restore itself fails.
    truncated = body[: len(body) // 2]
    name = dump_key.rsplit("/", 1)[1]
    s3.put_object(Bucket=bucket, Key=dump_key, Body=truncated)
    s3.put_object(
        Bucket=bucket,
        Key=dump_key + ".sha256",
        Body=f"{hashlib.sha256(truncated).hexdigest()}  {name}\n".encode(),
    )
    check = run_script(aws_env, "pg_restore_check.sh", "--key", dump_key, "--bucket", bucket)
    assert check.returncode == 1
    assert "pg_restore of" in check.stderr
    assert "failed" in check.stderr
    assert scratch_databases() == before


def test_restore_check_refuses_a_backup_without_checksum(aws_env, s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="postgres/x/x-20260101T000000Z.dump", Body=b"PGDMP")
    check = run_script(aws_env, "pg_restore_check.sh", "--database", "x", "--bucket", bucket)
    assert check.returncode == 1
    assert "no checksum object" in check.stderr


def test_restore_check_picks_the_newest_backup(aws_env, s3, bucket: str, source_db: str) -> None:
    # An older, broken backup must not be the one checked.
    old = f"postgres/{source_db}/{source_db}-20200101T000000Z.dump"
    s3.put_object(Bucket=bucket, Key=old, Body=b"garbage")
    assert (
        run_script(aws_env, "pg_backup.sh", "--database", source_db, "--bucket", bucket).returncode
        == 0
    )
    check = run_script(aws_env, "pg_restore_check.sh", "--database", source_db, "--bucket", bucket)
    assert check.returncode == 0, check.stderr
    assert old not in check.stdout


def test_failed_dump_leaves_no_object(aws_env, s3, bucket: str) -> None:
    backup = run_script(
        aws_env, "pg_backup.sh", "--database", "no_such_db_here", "--bucket", bucket
    )
    assert backup.returncode == 1
    assert "backup of 'no_such_db_here' failed; nothing was kept" in backup.stderr
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_no_backup_found_is_an_error(aws_env, bucket: str) -> None:
    check = run_script(aws_env, "pg_restore_check.sh", "--database", "nothing", "--bucket", bucket)
    assert check.returncode == 1
    assert f"no backup found under s3://{bucket}/postgres/nothing/nothing-" in check.stderr


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("pg_backup.sh", ["--database", "x"], "no bucket: pass --bucket or set BUCKET"),
        ("pg_backup.sh", ["--bucket", "b", "--compress", "11"], "--compress must be a digit"),
        ("pg_backup.sh", ["--bucket", "b", "--database", "../x"], "part of the backup's S3 key"),
        ("pg_backup.sh", ["--bogus"], "unknown argument '--bogus'"),
        ("pg_restore_check.sh", ["--bucket", "b", "--min-tables", "x"], "--min-tables must be"),
        ("pg_restore_check.sh", ["--bucket"], "--bucket needs a value"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    aws_env, script: str, args: list[str], message: str
) -> None:
    env = {k: v for k, v in aws_env.items() if k not in {"BUCKET"}}
    result = run_script(env, script, *args)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize("script", ["pg_backup.sh", "pg_restore_check.sh", "mysql_backup.sh"])
def test_help(aws_env, script: str) -> None:
    result = run_script(aws_env, script, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"Usage: {script}")


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A TCP port that records every connection made to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            accepted.append(connection)
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


@pytest.mark.parametrize(
    ("script", "extra"),
    [
        ("pg_vacuum.sh", []),
        ("pg_backup.sh", ["--bucket", "b"]),
        ("pg_restore_check.sh", ["--bucket", "b"]),
    ],
)
@pytest.mark.parametrize(
    "form", ["host=127.0.0.1 port={port} dbname=test", "postgresql://127.0.0.1:{port}/test"]
)
def test_a_database_name_is_never_read_as_a_connection_string(
    aws_env, listener, script: str, extra: list[str], form: str
) -> None:
    """A hostile forEach item must not send PGPASSWORD to another server."""
    port, accepted = listener
    item = form.format(port=port)
    result = run_script(aws_env | {"PGPASSWORD": "s3cret"}, script, *extra, "--database", item)
    assert result.returncode == 2
    assert f"database name '{item}' contains" in result.stderr
    assert accepted == []
