"""s3_prune.py: the selection rule on synthetic ages, the deletion against S3 on moto."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ROOT

ENTRYPOINT = str(ROOT / "container" / "entrypoint.sh")
_spec = importlib.util.spec_from_file_location("s3_prune", ROOT / "container/scripts/s3_prune.py")
s3_prune = importlib.util.module_from_spec(_spec)
sys.modules["s3_prune"] = s3_prune  # dataclasses look their module up
_spec.loader.exec_module(s3_prune)

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def backups(*ages_in_days: float) -> list:
    """Backups newest first, named by age."""
    return [
        s3_prune.Backup(f"b/{age}d.dump", NOW - timedelta(days=age), 10)
        for age in sorted(ages_in_days)
    ]


@pytest.mark.parametrize(
    ("ages", "older_than", "keep", "deleted"),
    [
        ([1, 2, 40, 50, 60], 30, 2, ["40", "50", "60"]),
        ([1, 2, 40, 50, 60], 30, 4, ["60"]),
        ([40, 50, 60], 30, 1, ["50", "60"]),  # the newest survives even when old
        ([40, 50, 60], 30, 7, []),
        ([1, 2, 3], 30, 1, []),  # nothing old enough
        ([29.9, 30.1], 30, 1, ["30.1"]),
        ([], 30, 1, []),
    ],
)
def test_selection_keeps_the_newest_k_and_deletes_only_old_ones(
    ages: list[float], older_than: int, keep: int, deleted: list[str]
) -> None:
    doomed = s3_prune.select_for_deletion(backups(*ages), NOW, timedelta(days=older_than), keep)
    assert [b.key.removeprefix("b/").removesuffix("d.dump") for b in doomed] == deleted


def test_keep_holds_for_each_database_under_a_parent_prefix() -> None:
    """Pruning postgres/ must not take the only backups of a database that is backed up
    less often than the others."""
    busy = [
        s3_prune.Backup(f"postgres/orders/orders-{d}.dump", NOW - timedelta(days=d), 10)
        for d in range(40, 50)
    ]
    quiet = [s3_prune.Backup("postgres/users/users-60.dump", NOW - timedelta(days=60), 10)]
    everything = sorted(busy + quiet, key=lambda b: b.last_modified, reverse=True)
    doomed = s3_prune.select_for_deletion(everything, NOW, timedelta(days=30), keep=2)
    assert [b.key for b in doomed] == [b.key for b in busy[2:]]


def prune(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ENTRYPOINT, "python", "s3_prune.py", "--", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def series(s3, bucket: str) -> list[str]:
    """Five backups with sidecars under db/orders/, plus a file outside the prefix."""
    keys = [f"db/orders/orders-2026010{i}T000000Z.dump" for i in range(1, 6)]
    for key in keys:  # uploaded oldest first, so LastModified follows the key order
        s3.put_object(Bucket=bucket, Key=key, Body=b"x" * 100)
        s3.put_object(Bucket=bucket, Key=key + ".sha256", Body=b"sum")
    s3.put_object(Bucket=bucket, Key="db/users/users-20260101T000000Z.dump", Body=b"y")
    return keys


def all_keys(s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_prune_deletes_old_backups_with_their_sidecars(aws_env, s3, bucket: str, series) -> None:
    later = (datetime.now(UTC) + timedelta(days=31)).isoformat()
    result = prune(
        aws_env, "--bucket", bucket, "--prefix", "db/orders/", "--keep", "2", "--now", later
    )
    assert result.returncode == 0, result.stderr
    assert all_keys(s3, bucket) == sorted(
        [
            *series[-2:],
            *(k + ".sha256" for k in series[-2:]),
            "db/users/users-20260101T000000Z.dump",
        ]
    )
    assert "5 backups in 1 series under" in result.stdout
    assert "keeping 2, delete 3 (300 bytes)" in result.stdout


def test_dry_run_deletes_nothing(aws_env, s3, bucket: str, series) -> None:
    before = all_keys(s3, bucket)
    later = (datetime.now(UTC) + timedelta(days=31)).isoformat()
    result = prune(
        aws_env,
        "--bucket",
        bucket,
        "--prefix",
        "db/orders/",
        "--keep",
        "1",
        "--now",
        later,
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("would delete s3://") == 4
    assert "[dry run]" in result.stdout
    assert all_keys(s3, bucket) == before


def test_recent_backups_are_kept(aws_env, s3, bucket: str, series) -> None:
    before = all_keys(s3, bucket)
    result = prune(aws_env, "--bucket", bucket, "--prefix", "db/orders/", "--keep", "1")
    assert result.returncode == 0
    assert "keeping 5, delete 0" in result.stdout
    assert all_keys(s3, bucket) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prefix", "/"], "refusing to prune a whole bucket"),
        (["--prefix", "db/", "--keep", "0"], "--keep must be at least 1"),
        (["--prefix", "db/", "--older-than-days", "-1"], "--older-than-days must be 0 or more"),
        (["--prefix", "db/", "--keep", "many"], "argument --keep: invalid int value"),
        (["--bucket", "b"], "the following arguments are required: --prefix"),
    ],
)
def test_bad_arguments_exit_2(aws_env, args: list[str], message: str) -> None:
    if "--bucket" not in args:
        args = ["--bucket", "b", *args]
    result = prune(aws_env, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
