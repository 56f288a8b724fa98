"""stage_results: a wide stage's record for the summary, after its Distributed Map ended.

The state machine calls it after "Run wide stage", whether the Map succeeded or failed (too
many failed items, items that could not be read). It reads the Map Run's manifest and failed
items from the run bucket and the Map Run's counts, and returns the stage record
(longjob_core.map_results). Its role may read the run bucket's `runs/` objects and describe
the state machine's Map Runs and their child executions, nothing else.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import boto3
from longjob_core.cost import function_usage
from longjob_core.map_results import stage_record


@cache
def s3_client() -> Any:
    """Created once per container, on first use (tests pass their own)."""
    return boto3.client("s3")


@cache
def sfn_client() -> Any:
    return boto3.client("stepfunctions")


def read_results(event: dict[str, Any], s3: Any, sfn: Any) -> dict[str, Any]:
    """Event: {"stage": <the plan's stage, without items>, "mapError": <the Map's error
    output, or null>, "room": <failures the summary may still describe in full>}."""

    def read(bucket: str, key: str) -> bytes:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def list_keys(bucket: str, prefix: str) -> list[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    return stage_record(
        event["stage"],
        event.get("mapError"),
        int(event.get("room", 0)),
        read,
        list_keys,
        lambda arn: sfn.describe_map_run(mapRunArn=arn),
        lambda arn: sfn.describe_execution(executionArn=arn),
    )


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.monotonic()
    record = read_results(event, s3=s3_client(), sfn=sfn_client())
    record["usage"]["function"] = function_usage("stage_results", started)
    return record
