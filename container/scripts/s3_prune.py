"""Delete old backups under an S3 prefix, always keeping the newest ones of each database.

A backup and its ``.sha256`` sidecar (written by pg_backup.sh / mysql_backup.sh) are
kept or deleted together; the backup's LastModified decides its age. Backups are grouped
by their folder (``<prefix><database>/``, as the backup scripts name them), and "keep the
newest K" holds for each folder: pruning ``postgres/`` never takes one database's last
backups because another database has newer ones.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SIDECAR_SUFFIX = ".sha256"
DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys per call


@dataclass
class Backup:
    key: str
    last_modified: datetime
    size: int
    sidecars: list[str] = field(default_factory=list)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="s3_prune.py",
        description="Delete backups older than N days under a prefix, always keeping the newest K.",
    )
    parser.add_argument("--bucket", required=True, help="bucket holding the backups")
    parser.add_argument(
        "--prefix",
        required=True,
        help="key prefix of the backups, e.g. postgres/orders/ or postgres/ (not empty)",
    )
    parser.add_argument(
        "--older-than-days",
        type=int,
        default=30,
        metavar="N",
        help="delete backups older than N days (default: 30)",
    )
    parser.add_argument(
        "--keep",
        type=int,
        default=7,
        metavar="K",
        help="always keep the newest K backups of each database, whatever their age "
        "(default: 7, minimum 1)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be deleted, delete nothing"
    )
    parser.add_argument(
        "--now",
        type=datetime.fromisoformat,
        default=None,
        metavar="ISO-TIME",
        help="measure ages from this UTC time instead of the current time",
    )
    args = parser.parse_args(argv)
    if not args.prefix.strip("/"):
        parser.error("--prefix must name a folder; refusing to prune a whole bucket")
    if args.keep < 1:
        parser.error("--keep must be at least 1, so the newest backup is never deleted")
    if args.older_than_days < 0:
        parser.error("--older-than-days must be 0 or more")
    if args.now is not None and args.now.tzinfo is None:
        args.now = args.now.replace(tzinfo=UTC)
    return args


def list_backups(s3: Any, bucket: str, prefix: str) -> list[Backup]:
    """Backups under prefix, newest first, each with its sidecar keys."""
    objects: dict[str, dict] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            objects[obj["Key"]] = obj
    backups = {
        key: Backup(key, obj["LastModified"], obj["Size"])
        for key, obj in objects.items()
        if not key.endswith(SIDECAR_SUFFIX)
    }
    for key in objects:
        if key.endswith(SIDECAR_SUFFIX):
            owner = backups.get(key[: -len(SIDECAR_SUFFIX)])
            if owner is not None:
                owner.sidecars.append(key)
            # An orphaned sidecar is left alone: pruning deletes backups, not stray files.
    return sorted(backups.values(), key=lambda b: (b.last_modified, b.key), reverse=True)


def series_of(key: str) -> str:
    """The folder a backup lives in: one database's series."""
    return key.rsplit("/", 1)[0] if "/" in key else ""


def select_for_deletion(
    backups: list[Backup], now: datetime, older_than: timedelta, keep: int
) -> list[Backup]:
    """The backups to delete: in each series, past its newest ``keep`` and older than
    ``older_than`` (``backups`` is newest first)."""
    cutoff = now - older_than
    seen: dict[str, int] = {}
    doomed = []
    for backup in backups:
        series = series_of(backup.key)
        seen[series] = seen.get(series, 0) + 1
        if seen[series] > keep and backup.last_modified < cutoff:
            doomed.append(backup)
    return doomed


def delete(s3: Any, bucket: str, keys: list[str]) -> list[str]:
    """Delete keys in batches; returns the keys S3 reported as not deleted."""
    errors: list[str] = []
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start : start + DELETE_BATCH]
        response = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
        )
        errors.extend(
            f"{e['Key']}: {e.get('Message', e.get('Code'))}" for e in response.get("Errors", [])
        )
    return errors


def main(argv: list[str] | None = None, s3: Any = None) -> int:
    args = parse_args(argv)
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    now = args.now or datetime.now(UTC)
    backups = list_backups(s3, args.bucket, args.prefix)
    doomed = select_for_deletion(backups, now, timedelta(days=args.older_than_days), args.keep)
    verb = "would delete" if args.dry_run else "delete"
    for backup in doomed:
        stamp = backup.last_modified.isoformat(timespec="seconds")
        print(f"s3_prune: {verb} s3://{args.bucket}/{backup.key} ({stamp}, {backup.size} bytes)")
    freed = sum(b.size for b in doomed)
    series = len({series_of(b.key) for b in backups})
    summary = (
        f"{len(backups)} backups in {series} series under s3://{args.bucket}/{args.prefix}, "
        f"keeping {len(backups) - len(doomed)}, {verb} {len(doomed)} ({freed} bytes)"
    )
    if args.dry_run or not doomed:
        print(f"s3_prune: {summary}{' [dry run]' if args.dry_run else ''}")
        return 0
    errors = delete(s3, args.bucket, [k for b in doomed for k in [b.key, *b.sidecars]])
    for error in errors:
        print(f"s3_prune: could not delete {error}", file=sys.stderr)
    print(f"s3_prune: {summary}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
