"""A task's checkpoint: where a long script keeps its progress, to resume from it.

Every task gets LONGJOB_CHECKPOINT, an S3 URI that stays the same for the same run, stage
and item across attempts (and across `longjob redrive`, which resumes the failed run's
checkpoints). A script reads it when it starts and writes it as it goes, and on SIGTERM
(Spot interruption, stop, its deadline) before it exits:

    checkpoint.py get [FILE]    the checkpoint into FILE (or stdout): exit 0 when there is
                                one, 1 when there is none (start from the beginning), 2 on
                                an error (never a reason to start again silently)
    checkpoint.py put [FILE]    FILE (or stdin) becomes the checkpoint
    checkpoint.py clear         forget it (the work is done)

From Python, with the scripts' lib folder on sys.path: ``checkpoint.get() -> bytes | None``
and ``checkpoint.put(data)``. A `get` that finds a checkpoint also notes, under the run's
`_resumed/` prefix, that this attempt resumed: the run's summary counts those per stage.
The content never goes to the log: the helper prints it only where it is asked to.
"""

from __future__ import annotations

import os
import sys
from typing import Any

CHECKPOINT_ENV = "LONGJOB_CHECKPOINT"  # longjob_core.contract.CHECKPOINT_ENV
RESUMED_FOLDER = "_resumed"  # longjob_core.contract.RESUMED_FOLDER
FOUND, NONE, ERROR = 0, 1, 2


class CheckpointError(Exception):
    """No checkpoint location, or S3 refused: the script must not start over silently."""


def location() -> tuple[str, str]:
    uri = os.environ.get(CHECKPOINT_ENV, "")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise CheckpointError(f"{CHECKPOINT_ENV} is not set: not in a longjob task")
    return bucket, key


def _client() -> Any:
    import boto3

    return boto3.client("s3")


def get(s3: Any = None) -> bytes | None:
    """The checkpoint's content, or None when this task has none yet."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = location()
    s3 = s3 or _client()
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise CheckpointError(f"cannot read the checkpoint: {error}") from None
    except BotoCoreError as error:
        raise CheckpointError(f"cannot read the checkpoint: {error}") from None
    _note_resumed(s3, bucket, key)
    return body


def put(data: bytes, s3: Any = None) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = location()
    try:
        (s3 or _client()).put_object(Bucket=bucket, Key=key, Body=data)
    except (BotoCoreError, ClientError) as error:
        raise CheckpointError(f"cannot write the checkpoint: {error}") from None


def clear(s3: Any = None) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = location()
    try:
        (s3 or _client()).delete_object(Bucket=bucket, Key=key)
    except (BotoCoreError, ClientError) as error:
        raise CheckpointError(f"cannot clear the checkpoint: {error}") from None


def _note_resumed(s3: Any, bucket: str, key: str) -> None:
    """runs/<this execution>/_resumed/<stage>/<task>-<attempt>: what the summary counts."""
    from botocore.exceptions import BotoCoreError, ClientError

    execution = os.environ.get("LONGJOB_EXECUTION", "")
    stage = os.environ.get("LONGJOB_STAGE", "")
    attempt = os.environ.get("LONGJOB_ATTEMPT", "1")
    if not execution or not stage:
        return
    note = f"runs/{execution}/{RESUMED_FOLDER}/{stage}/{key.rsplit('/', 1)[-1]}-{attempt}"
    try:
        s3.put_object(Bucket=bucket, Key=note, Body=b"")
    except (BotoCoreError, ClientError) as error:  # the work goes on; the count is short
        print(f"checkpoint: could not note the resume: {error}", file=sys.stderr)


def main(args: list[str]) -> int:
    command, rest = (args[0], args[1:]) if args else ("", [])
    try:
        if command == "get" and len(rest) <= 1:
            data = get()
            if data is None:
                return NONE
            if rest:
                with open(rest[0], "wb") as out:
                    out.write(data)
            else:
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
        elif command == "put" and len(rest) <= 1:
            if rest:
                with open(rest[0], "rb") as source:
                    put(source.read())
            else:
                put(sys.stdin.buffer.read())
        elif command == "clear" and not rest:
            clear()
        else:
            print("usage: checkpoint.py get [FILE] | put [FILE] | clear", file=sys.stderr)
            return ERROR
    except (CheckpointError, OSError, ImportError) as error:
        print(f"checkpoint: {error}", file=sys.stderr)
        return ERROR
    return FOUND


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
