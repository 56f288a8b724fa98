"""Checkpoints: a retried or redriven task resumes where it stopped (README "Checkpoints").

The example script container/scripts/analyze_partitions.py runs against this machine's real
PostgreSQL: it ANALYZEs 20 tables one by one, writing the last one done to its checkpoint
(LONGJOB_CHECKPOINT, in the local stack's run bucket). Fargate Spot takes its task back
halfway (an injected interruption: SIGTERM, as ECS stops it); the next attempt resumes after
the last table done, so the tables analyzed over both attempts are one full run, not two.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from longjob.cli.operate import failure_details, start_run
from longjob.engine.launchers import ProcessLauncher
from longjob.engine.local_engine import RunResult
from longjob.engine.task_runtime import SPOT_INTERRUPTION, SPOT_REASON
from longjob.report.history import fetch_history
from longjob.report.watcher import report
from longjob.stack.application import load_application
from longjob.stack.local import LocalStack

from .conftest import job_summary, scratch

TABLES = [f"lj_part_{i:02d}" for i in range(20)]
PG = {"PGHOST": "127.0.0.1", "PGUSER": "root"}
X86 = {"RetryDelaySeconds": "1", "CpuArchitecture": "X86_64"}
HALFWAY = "analyzed lj_part_09"


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "root", "-d", "test", "-X", "-q", "-v",
         "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def partitions() -> Iterator[list[str]]:
    psql("; ".join(f"CREATE TABLE IF NOT EXISTS {t} (id int)" for t in TABLES))
    yield TABLES
    psql("; ".join(f"DROP TABLE IF EXISTS {t}" for t in TABLES))


def analyze(**fields: Any) -> dict[str, Any]:
    return {
        "name": "analyze",
        "run": ["python", "analyze_partitions.py", "--database", "test", "--pattern",
                "lj_part_%", "--pause", "0.15"],
        "env": PG,
        **fields,
    }  # fmt: skip


@pytest.fixture
def local(project: Path) -> Iterator[LocalStack]:
    """One local stack for the test: a redrive reads what the first run left in its S3."""
    with LocalStack(load_application(project, X86), ProcessLauncher(project), 2.0) as stack:
        yield stack


def interrupt_at(local: LocalStack, before: set[str], line: str) -> None:
    """Fargate Spot takes the task back once it has written ``line``: halfway through its
    work (SIGTERM, then the stop, as the runtime's injected interruption does)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for arn, task in list(local.engine.runtime.tasks.items()):
            written = task.log_path.read_text() if task.log_path.is_file() else ""
            if arn not in before and line in written.splitlines():
                local.engine.runtime.stop(arn, SPOT_REASON, stop_code=SPOT_INTERRUPTION)
                return
        time.sleep(0.05)
    raise AssertionError(f"no task wrote {line!r}")


def run(
    local: LocalStack, document: dict[str, Any], interrupt: str | None = None
) -> tuple[RunResult, dict[str, Any], str, list[str], str]:
    """(result, summary, report, the lines this run's tasks wrote, its history as text)."""
    assert local.aws is not None
    assert local.stack is not None
    before = set(local.engine.runtime.tasks)
    arn = start_run(local.aws, local.stack, document, None)
    if interrupt is not None:
        interrupt_at(local, before, interrupt)
    result = local.end(arn)
    lines: list[str] = []
    description = local.aws.sfn.describe_execution(executionArn=arn)
    report(description, lines.append, failure_details(local.aws, local.stack, local.log_file))
    history = json.dumps(fetch_history(local.aws.sfn, arn), default=str)
    tasks = [t for arn, t in local.engine.runtime.tasks.items() if arn not in before]
    tasks.sort(key=lambda t: t.created_at)
    logged = [line for t in tasks for line in t.log_path.read_text().splitlines()]
    summary = job_summary(result)
    assert summary is not None, result.cause
    return result, summary, "\n".join(lines), logged, history


def analyzed(lines: list[str]) -> list[str]:
    return [line.split()[-1] for line in lines if line.startswith("analyzed ")]


def test_an_interrupted_loop_resumes_at_its_checkpoint(
    local: LocalStack, partitions: list[str]
) -> None:
    document = {"job": "partitions", "stages": [analyze(capacity="spot-then-on-demand")]}
    result, summary, text, logged, history = run(local, document, interrupt=HALFWAY)
    assert result.status == "SUCCEEDED", result.cause
    assert summary["stages"][0]["attempts"] == 2
    done = analyzed(logged)
    # Each table once: the second attempt started after the first one's last table.
    assert sorted(done) == partitions
    assert len(done) < 2 * len(partitions)
    assert done.index(HALFWAY.split()[-1]) < done.index(partitions[-1])
    assert any("analyze_partitions: resuming after lj_part_" in line for line in logged), logged
    assert summary["resumed"] == [1]
    assert "analyze: 1 attempt(s) resumed from a checkpoint" in text
    # The template's checkpoint statements are what the helper and Notify need, no more.
    roles = {row["role"]: row for row in local.iam_report() or []}
    assert {r: row["denied"] for r, row in roles.items()} == {r: [] for r in roles}
    unused = roles["longjob-local-TaskRole"]["unusedStatements"]
    assert not any(s.startswith("checkpoints") for s in unused), unused
    # The checkpoint's content never reaches the history, the logs or the notification.
    for where in (history, "\n".join(logged), result.notifications[-1].message, text):
        assert '"done"' not in where
        assert '\\"done\\"' not in where


def test_without_list_bucket_a_missing_checkpoint_is_access_denied(
    project: Path, tmp_path: Path, partitions: list[str]
) -> None:
    """S3 answers a missing object with 403 to a caller who may not list the bucket: the
    template's ListBucket statement is what lets a first attempt start from the beginning."""
    copy = scratch(
        project,
        tmp_path,
        (
            "                Action: s3:ListBucket\n"
            "                Resource: !GetAtt RunBucket.Arn\n"
            "              - Effect: Allow\n"
            "                Action: [s3:GetObject",
            "                Action: [s3:GetObject",
        ),
    )
    with LocalStack(load_application(copy, X86), ProcessLauncher(copy), 2.0) as stack:
        result, summary, _text, logged, _history = run(
            stack, {"job": "partitions", "stages": [analyze()]}
        )
    assert result.status == "FAILED"
    assert summary["stages"][0]["exitCode"] == 1
    assert any("cannot read the checkpoint" in line and "AccessDenied" in line for line in logged)
    assert analyzed(logged) == []


def test_a_redrive_resumes_from_the_failed_runs_checkpoints(
    local: LocalStack, partitions: list[str]
) -> None:
    first, summary, _text, logged, _history = run(
        local,
        {"job": "partitions", "stages": [analyze(capacity="spot")]},
        interrupt=HALFWAY,
    )
    assert first.status == "FAILED"
    done_first = analyzed(logged)
    assert 0 < len(done_first) < len(partitions)
    # What `longjob redrive` starts: the same document from the failed stage, with the
    # failed run's checkpoints.
    name = first.execution_name
    again, summary, _text, logged, _history = run(
        local, {"job": "partitions", "checkpointsFrom": name, "stages": [analyze()]}
    )
    assert again.status == "SUCCEEDED", again.cause
    assert sorted(done_first + analyzed(logged)) == partitions
    assert summary["resumed"] == [1]
    # resume: false starts the stage afresh.
    fresh, _summary, _text, logged, _history = run(
        local,
        {"job": "partitions", "checkpointsFrom": name, "stages": [analyze(resume=False)]},
    )
    assert fresh.status == "SUCCEEDED", fresh.cause
    assert analyzed(logged) == partitions
