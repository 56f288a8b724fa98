"""Report on the backups under a prefix: how many, the newest, total size, missing checksums.

Meant as an `always` stage after backups and pruning: it runs even when they failed, so
the job's log always ends with the state of the backup bucket. Exits 1 when the newest
backup is older than --max-age-hours (a stale backup is a failure worth paging for).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="backup_report.py", description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", required=True, help="key prefix of the backups, e.g. postgres/")
    parser.add_argument(
        "--max-age-hours",
        type=float,
        default=None,
        help="fail when the newest backup is older than this",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, s3: Any = None) -> int:
    args = parse_args(argv)
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    objects = [
        obj
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=args.bucket, Prefix=args.prefix
        )
        for obj in page.get("Contents", [])
    ]
    keys = {o["Key"] for o in objects}
    backups = sorted(
        (o for o in objects if not o["Key"].endswith(".sha256")), key=lambda o: o["LastModified"]
    )
    where = f"s3://{args.bucket}/{args.prefix}"
    if not backups:
        print(f"backup_report: no backups under {where}")
        return 1 if args.max_age_hours is not None else 0
    newest = backups[-1]
    age_hours = (datetime.now(UTC) - newest["LastModified"]).total_seconds() / 3600
    unverified = [b["Key"] for b in backups if b["Key"] + ".sha256" not in keys]
    total = sum(b["Size"] for b in backups)
    print(f"backup_report: {len(backups)} backups under {where}, {total} bytes in all")
    print(f"backup_report: newest {newest['Key']} ({newest['Size']} bytes, {age_hours:.1f} h old)")
    for key in unverified:
        print(f"backup_report: no checksum for {key}")
    if args.max_age_hours is not None and age_hours > args.max_age_hours:
        print(f"backup_report: newest backup is older than {args.max_age_hours} h", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
