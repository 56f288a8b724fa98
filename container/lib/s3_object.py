"""The S3 calls the toolbox's shell scripts make, with boto3 (the image has no AWS CLI).

    s3_object.py put URI            stdin to s3://bucket/key, streamed (multipart, no disk)
    s3_object.py get URI FILE       the object into FILE
    s3_object.py size URI           the object's size in bytes, on stdout
    s3_object.py rm URI             delete the object (a missing one is not an error)
    s3_object.py latest BUCKET PREFIX SUFFIX
                                    the greatest key under PREFIX ending in SUFFIX (the newest
                                    of timestamped keys), on stdout; exit 1 when there is none

boto3 finds the region, the credentials (the task role) and AWS_ENDPOINT_URL as the CLI did.
Errors are one line on stderr, "s3_object: <command> <uri>: <what AWS said>", and exit 1:
never a traceback in the task's log.
"""

from __future__ import annotations

import sys
from typing import Any

USAGE = "usage: s3_object.py put|size|rm URI | get URI FILE | latest BUCKET PREFIX SUFFIX"


def location(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return bucket, key


def latest(s3: Any, bucket: str, prefix: str, suffix: str) -> str | None:
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if item["Key"].endswith(suffix)
    ]
    return max(keys) if keys else None


def run(args: list[str], s3: Any) -> int:
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command == "put" and len(rest) == 1:
        bucket, key = location(rest[0])
        s3.upload_fileobj(sys.stdin.buffer, bucket, key)
    elif command == "get" and len(rest) == 2:
        bucket, key = location(rest[0])
        s3.download_file(bucket, key, rest[1])
    elif command == "size" and len(rest) == 1:
        bucket, key = location(rest[0])
        print(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    elif command == "rm" and len(rest) == 1:
        bucket, key = location(rest[0])
        s3.delete_object(Bucket=bucket, Key=key)
    elif command == "latest" and len(rest) == 3:
        found = latest(s3, *rest)
        if found is None:
            return 1
        print(found)
    else:
        print(USAGE, file=sys.stderr)
        return 2
    return 0


def main() -> int:
    args = sys.argv[1:]
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError as error:
        print(f"s3_object: boto3 is not installed: {error}", file=sys.stderr)
        return 1
    try:
        return run(args, boto3.client("s3"))
    except (BotoCoreError, ClientError, ValueError, OSError) as error:
        target = " ".join(args[:2])
        print(f"s3_object: {target}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
