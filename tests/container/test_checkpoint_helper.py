"""container/lib/checkpoint.py: get / put / clear of a task's checkpoint, on moto's S3."""

from __future__ import annotations

import importlib.util
import io
import sys
from collections.abc import Iterator
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("checkpoint", ROOT / "container/lib/checkpoint.py")
assert _spec is not None
assert _spec.loader is not None
checkpoint = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checkpoint)

BUCKET = "run-bucket"
URI = f"s3://{BUCKET}/runs/first-run/_checkpoints/loop/item-3"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("LONGJOB_CHECKPOINT", URI)
    monkeypatch.setenv("LONGJOB_EXECUTION", "redriven-run")
    monkeypatch.setenv("LONGJOB_STAGE", "loop")
    monkeypatch.setenv("LONGJOB_ATTEMPT", "2")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def main(*args: str, stdin: bytes = b"") -> tuple[int, bytes]:
    """checkpoint.py's exit code and what it wrote on stdout."""
    out = io.BytesIO()
    saved = sys.stdin, sys.stdout
    sys.stdin = SimpleNamespace(buffer=io.BytesIO(stdin))  # type: ignore[assignment]
    sys.stdout = SimpleNamespace(buffer=out, flush=lambda: None)  # type: ignore[assignment]
    try:
        code = checkpoint.main(list(args))
    finally:
        sys.stdin, sys.stdout = saved
    return code, out.getvalue()


def test_none_then_put_then_get_then_clear(s3) -> None:
    assert main("get") == (1, b"")  # none yet: start from the beginning
    assert main("put", stdin=b'{"done": "events_07"}') == (0, b"")
    assert main("get") == (0, b'{"done": "events_07"}')
    # That get resumed: noted under this execution's _resumed/ prefix for the summary.
    notes = s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/redriven-run/_resumed/")["Contents"]
    assert [n["Key"] for n in notes] == ["runs/redriven-run/_resumed/loop/item-3-2"]
    assert main("clear") == (0, b"")
    assert main("get") == (1, b"")


def test_an_error_is_exit_2_never_a_fresh_start(s3, capsys: pytest.CaptureFixture[str]) -> None:
    s3.delete_bucket(Bucket=BUCKET)
    assert main("get")[0] == 2
    assert "checkpoint: cannot read the checkpoint" in capsys.readouterr().err


def test_outside_a_task_it_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LONGJOB_CHECKPOINT", raising=False)
    assert main("get")[0] == 2
    assert "LONGJOB_CHECKPOINT is not set: not in a longjob task" in capsys.readouterr().err
    assert main("nope")[0] == 2
