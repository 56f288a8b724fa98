"""mysql_backup.sh against the real MariaDB here and S3 on moto."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT

ENTRYPOINT = str(ROOT / "container" / "entrypoint.sh")
MYSQL = {"MYSQL_HOST": "127.0.0.1", "MYSQL_TCP_PORT": "3306", "MYSQL_USER": "root"}


def mariadb(sql: str, stdin: bytes | None = None) -> str:
    return (
        subprocess.run(
            [
                "mariadb",
                "-h",
                "127.0.0.1",
                "-P",
                "3306",
                "-uroot",
                "--batch",
                "--skip-column-names",
                "-e",
                sql,
            ]
            if stdin is None
            else ["mariadb", "-h", "127.0.0.1", "-P", "3306", "-uroot"],
            input=stdin,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )


@pytest.fixture
def source_db() -> Iterator[str]:
    name = f"longjob_src_{uuid.uuid4().hex[:8]}"
    mariadb(
        f"CREATE DATABASE {name}; USE {name};"
        "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, item VARCHAR(50), qty INT)"
        " ENGINE=InnoDB;"
        "INSERT INTO orders (item, qty) SELECT CONCAT('item ', seq), seq FROM seq_1_to_300;"
        "CREATE TRIGGER orders_qty BEFORE INSERT ON orders FOR EACH ROW SET NEW.qty = ABS(NEW.qty);"
    )
    yield name
    mariadb(f"DROP DATABASE IF EXISTS {name}")


def run_backup(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ENTRYPOINT, "bash", "mysql_backup.sh", "--", *args],
        capture_output=True,
        text=True,
        env=env | MYSQL,
        timeout=120,
        check=False,
    )


def test_backup_is_a_restorable_gzipped_dump_with_checksum(
    aws_env, s3, bucket: str, source_db: str
) -> None:
    result = run_backup(aws_env, "--database", source_db, "--bucket", bucket, "--prefix", "db/")
    assert result.returncode == 0, result.stderr
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    dump_key, sum_key = keys
    assert dump_key.startswith(f"db/{source_db}/{source_db}-")
    assert dump_key.endswith(".sql.gz")
    body = s3.get_object(Bucket=bucket, Key=dump_key)["Body"].read()
    digest = hashlib.sha256(body).hexdigest()
    assert s3.get_object(Bucket=bucket, Key=sum_key)["Body"].read().decode().startswith(digest)
    assert f"({len(body)} bytes, sha256 {digest})" in result.stdout

    sql = gzip.decompress(body)
    assert b"CREATE TABLE `orders`" in sql
    assert b"TRIGGER" in sql
    # Restore into the same server under the original name, after dropping it.
    mariadb(f"DROP DATABASE {source_db}")
    mariadb("", stdin=sql)
    assert mariadb(f"SELECT COUNT(*), SUM(qty) FROM {source_db}.orders") == "300\t45150"


def test_failed_dump_leaves_no_object(aws_env, s3, bucket: str) -> None:
    result = run_backup(aws_env, "--database", "no_such_db_here", "--bucket", bucket)
    assert result.returncode == 1
    assert "nothing was kept" in result.stderr
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_wrong_password_fails(aws_env, s3, bucket: str, source_db: str) -> None:
    result = run_backup(
        aws_env | {"MYSQL_USER": "nobody_here", "MYSQL_PWD": "wrong"},
        "--database",
        source_db,
        "--bucket",
        bucket,
        "--user",
        "nobody_here",
    )
    assert result.returncode == 1
    assert "Access denied" in result.stderr
    assert "wrong" not in result.stdout
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_usage_error(aws_env) -> None:
    result = run_backup(aws_env, "--bucket", "b")
    assert result.returncode == 2
    assert "no database: pass --database or set MYSQL_DATABASE" in result.stderr
