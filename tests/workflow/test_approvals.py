"""Approval gates (README "Approval stages"): a run on the project's stack on this machine
waits at an approval stage until it is answered the way `longjob approve` answers it, and
ends APPROVED-and-on, REJECTED or TIMED_OUT, with a notification each way.

The task token is in one place a reader of the run can see, the place AWS puts it: the
`Ask approval` task's recorded arguments in the history. It is nowhere else (summary,
notifications, logs, the report), and on its own it cannot approve: the answer key, which
only the lock table holds, can.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from longjob_core.contract import EXIT_FAILED, EXIT_SUCCEEDED, approval_key, exit_code

from longjob.cli import main
from longjob.cli.operate import failure_details, start_run
from longjob.engine.launchers import ProcessLauncher
from longjob.engine.local_engine import RunResult
from longjob.report.history import fetch_history
from longjob.report.watcher import report
from longjob.stack.application import load_application
from longjob.stack.approvals import answer
from longjob.stack.deployed import AwsError
from longjob.stack.local import LocalStack
from tests.conftest import ROOT, VENV_BIN

from .conftest import job_summary, scratch, stage

MESSAGE = "Restore last night's backup over the test database?"
CALLER = "arn:aws:sts::123456789012:user/moto"  # the local stack's caller identity


def gated(job: str, timeout: int = 600) -> dict[str, Any]:
    return {
        "job": job,
        "stages": [
            stage("backup", "exit.sh", "backed-up"),
            {
                "name": "approve",
                "approval": {
                    "message": MESSAGE,
                    "timeoutSeconds": timeout,
                    "approvers": "the DBA on call",
                },
            },
            stage("restore", "exit.sh", "restored"),
            stage("report", "exit.sh", "reported", always=True),
        ],
    }


@pytest.fixture
def local(project: Path) -> Iterator[LocalStack]:
    application = load_application(project, {"RetryDelaySeconds": "1"})
    with LocalStack(application, ProcessLauncher(project), 2.0) as stack:
        yield stack


def pending(local: LocalStack, name: str, seconds: float = 30) -> dict[str, Any]:
    """The lock-table item of the run's pending approval, once Notify has written it."""
    assert local.aws is not None
    assert local.stack is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        item = local.aws.dynamodb.get_item(
            TableName=local.stack.lock_table, Key={"job": {"S": approval_key(name)}}
        ).get("Item")
        if item:
            return item
        time.sleep(0.05)
    raise AssertionError(f"{name}: no approval request")


def finish(local: LocalStack, arn: str) -> tuple[RunResult, dict[str, Any], str, str, str]:
    """(result, summary, report, the run's task log lines, its history as text)."""
    assert local.aws is not None
    assert local.stack is not None
    result = local.end(arn)
    summary = job_summary(result)
    assert summary is not None, result.cause
    lines: list[str] = []
    description = local.aws.sfn.describe_execution(executionArn=arn)
    report(description, lines.append, failure_details(local.aws, local.stack, local.log_file))
    history = json.dumps(fetch_history(local.aws.sfn, arn), default=str)
    logs = "\n".join(p.read_text() for p in Path(result.log_dir).rglob("*") if p.is_file())
    return result, summary, "\n".join(lines), logs, history


def start(local: LocalStack, document: dict[str, Any]) -> tuple[str, str]:
    assert local.aws is not None
    assert local.stack is not None
    arn = start_run(local.aws, local.stack, document, None)
    return arn, arn.rsplit(":", 1)[-1]


def states_entered(local: LocalStack, arn: str) -> int:
    """The run's state transitions, as Step Functions bills them: the states it entered."""
    assert local.aws is not None
    events = fetch_history(local.aws.sfn, arn)
    return sum(1 for e in events if e["type"].endswith("StateEntered"))


def statuses(summary: dict[str, Any]) -> list[str]:
    return [s["status"] for s in summary["stages"]]


def request_of(result: RunResult) -> Any:
    requests = [n for n in result.notifications if "waits for approval" in (n.subject or "")]
    assert len(requests) == 1, [n.subject for n in result.notifications]
    return requests[0]


def test_an_approved_stage_lets_the_run_go_on(local: LocalStack) -> None:
    arn, name = start(local, gated("gate-approved"))
    item = pending(local, name)
    token, key = item["token"]["S"], item["answerKey"]["S"]
    answered = answer(local.aws, local.stack, arn, True, "counts checked")  # type: ignore[arg-type]
    assert (answered.stage, answered.approved, answered.by) == ("approve", True, CALLER)

    result, summary, text, logs, history = finish(local, arn)
    assert exit_code(result.status, summary["status"]) == EXIT_SUCCEEDED
    assert summary["status"] == "SUCCEEDED"
    assert statuses(summary) == ["SUCCEEDED", "APPROVED", "SUCCEEDED", "SUCCEEDED"]
    gate = summary["stages"][1]
    assert gate["answer"] == {"by": CALLER, "comment": "counts checked"}
    assert gate["stoppedAt"] >= gate["startedAt"]
    assert f'approve: approved by {CALLER}: "counts checked"' in text
    assert summary["cost"]["stateTransitions"]["count"] == states_entered(local, arn)
    assert summary["cost"]["lambda"]["requests"] == 3  # prepare, the request, the summary

    # The request: the question, who, how to answer, the stages so far.
    request = request_of(result)
    assert request.subject == "[longjob] gate-approved waits for approval: approve"
    assert MESSAGE in request.message
    assert "Approvers: the DBA on call" in request.message
    assert f"longjob approve {name} --stage approve --stack " in request.message
    assert "--reject" in request.message
    assert "backup  SUCCEEDED" in request.message
    final = result.notifications[-1]
    assert final.subject == "[longjob] gate-approved SUCCEEDED"
    assert "approve: approved by" in final.message

    # The token and the key: in no notification, log, report or summary; the history has
    # the token where AWS records it (the task's arguments) and the key only once spent
    # (Check answer's condition); the item is gone.
    seen = [n.message for n in result.notifications] + [logs, text, json.dumps(summary)]
    for secret in (token, key):
        assert all(secret not in where for where in seen)
    events = fetch_history(local.aws.sfn, arn)  # type: ignore[union-attr]
    holding = [e for e in events if token in json.dumps(e, default=str)]
    assert [e["type"] for e in holding] == ["TaskScheduled"]
    assert '"approval": {"token": "' in json.dumps(
        json.loads(holding[0]["taskScheduledEventDetails"]["parameters"])
    )
    # The key only once the token is spent: from the answer (SendTaskSuccess's output) on.
    answered_at = next(
        e["id"]
        for e in events
        if e["type"] == "TaskSucceeded" and key in json.dumps(e, default=str)
    )
    assert [e["type"] for e in events if key in json.dumps(e, default=str)][:1] == ["TaskSucceeded"]
    assert all(e["id"] >= answered_at for e in events if key in json.dumps(e, default=str))
    assert history.count(token) == 1
    with pytest.raises(AwsError, match="is not running"):
        answer(local.aws, local.stack, arn, True)  # type: ignore[arg-type]


def test_a_rejected_stage_ends_the_run_rejected(local: LocalStack) -> None:
    arn, name = start(local, gated("gate-rejected"))
    pending(local, name)
    answered = answer(local.aws, local.stack, arn, False, "not during business hours")  # type: ignore[arg-type]
    assert not answered.approved

    result, summary, text, _logs, _history = finish(local, arn)
    assert result.status == "FAILED"
    assert result.error == "JobRejected"
    assert exit_code(result.status, summary["status"]) == EXIT_FAILED
    assert summary["status"] == "REJECTED"
    assert statuses(summary) == ["SUCCEEDED", "REJECTED", "SKIPPED", "SUCCEEDED"]
    assert summary["stages"][1]["answer"] == {"by": CALLER, "comment": "not during business hours"}
    assert summary["stages"][2]["reason"] == "the run was rejected"
    assert f'approve: rejected by {CALLER}: "not during business hours"' in text
    assert summary["cost"]["stateTransitions"]["count"] == states_entered(local, arn)
    assert text.endswith(f"job gate-rejected: REJECTED ({name})")
    final = result.notifications[-1]
    assert final.subject == "[longjob] gate-rejected REJECTED: approve rejected"
    assert f"approve: rejected by {CALLER}" in final.message


def test_a_stage_without_an_answer_times_out(local: LocalStack) -> None:
    arn, name = start(local, gated("gate-timeout", timeout=1))
    pending(local, name)
    result, summary, text, _logs, _history = finish(local, arn)
    assert result.error == "JobTimedOut"
    assert exit_code(result.status, summary["status"]) == EXIT_FAILED
    assert summary["status"] == "TIMED_OUT"
    assert statuses(summary) == ["SUCCEEDED", "TIMED_OUT", "SKIPPED", "SUCCEEDED"]
    assert summary["stages"][1]["reason"] == "no answer within 1 s"
    assert summary["stages"][2]["reason"] == "an approval got no answer in time"
    assert "approve: no answer within 1 s" in text
    assert summary["cost"]["stateTransitions"]["count"] == states_entered(local, arn)
    assert result.notifications[-1].subject == "[longjob] gate-timeout TIMED_OUT: approve timed out"
    request_of(result)
    with pytest.raises(AwsError, match="is not running"):
        answer(local.aws, local.stack, arn, True)  # type: ignore[arg-type]


def test_the_token_the_history_shows_cannot_approve(local: LocalStack) -> None:
    """Whoever reads the token in the history and sends it back without the answer key
    fails the stage; nothing after it runs."""
    assert local.aws is not None
    arn, name = start(local, gated("gate-forged"))
    pending(local, name)
    events = fetch_history(local.aws.sfn, arn)
    scheduled = [e for e in events if e["type"] == "TaskScheduled"][-1]
    token = json.loads(scheduled["taskScheduledEventDetails"]["parameters"])["Payload"]["approval"][
        "token"
    ]
    local.aws.sfn.send_task_success(
        taskToken=token, output=json.dumps({"by": "arn:aws:iam::123456789012:user/mallory"})
    )
    _result, summary, _text, _logs, _history = finish(local, arn)
    assert summary["status"] == "FAILED"
    assert statuses(summary) == ["SUCCEEDED", "FAILED", "SKIPPED", "SUCCEEDED"]
    assert summary["stages"][1]["reason"] == "an answer without the approval key was refused"
    mallory = {"by": "arn:aws:iam::123456789012:user/mallory", "comment": ""}
    assert summary["stages"][1]["answer"] == mallory  # who the answer claimed to be from
    assert summary["cost"]["stateTransitions"]["count"] == states_entered(local, arn)


def test_a_request_that_cannot_be_stored_fails_the_stage(project: Path, tmp_path: Path) -> None:
    """Notify may write only approval/ items (dynamodb:LeadingKeys): with any other prefix
    allowed, the request is refused as on AWS, and the stage fails at once, notified."""
    copy = scratch(
        project,
        tmp_path,
        (
            'StringLike:\n                  dynamodb:LeadingKeys: ["approval/*"]',
            'StringLike:\n                  dynamodb:LeadingKeys: ["locks/*"]',
        ),
    )
    with LocalStack(
        load_application(copy, {"RetryDelaySeconds": "1"}), ProcessLauncher(copy), 2.0
    ) as local:
        arn, _name = start(local, gated("gate-refused"))
        result, summary, _text, _logs, _history = finish(local, arn)
    assert summary["status"] == "FAILED"
    assert statuses(summary) == ["SUCCEEDED", "FAILED", "SKIPPED", "SUCCEEDED"]
    assert summary["stages"][1]["reason"].startswith("the approval request failed: ")
    assert result.notifications[-1].subject == "[longjob] gate-refused FAILED: approve failed"


def test_run_approve_leaves_a_run_whose_request_failed_to_end_by_itself(
    project: Path, tmp_path: Path, monkeypatch
) -> None:
    """--approve cannot answer a request that was never stored; the run has already left
    the stage (FAILED), so it is not stopped: its `always` stage and its summary still come."""
    copy = scratch(
        project,
        tmp_path,
        (
            'StringLike:\n                  dynamodb:LeadingKeys: ["approval/*"]',
            'StringLike:\n                  dynamodb:LeadingKeys: ["locks/*"]',
        ),
    )
    monkeypatch.chdir(copy)
    job = write_job(tmp_path, gated("gate-run-refused"))
    result = CliRunner().invoke(main, ["run", job, "--approve"], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert re.search(r"^report +SUCCEEDED ", result.output, re.M)
    assert "approve: the approval request failed: " in result.output
    assert "job gate-run-refused: FAILED" in result.output


# --- `longjob run` --------------------------------------------------------------------------


def write_job(tmp_path: Path, document: dict[str, Any]) -> str:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_run_answers_with_approve_or_reject(project: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(project)
    job = write_job(tmp_path, gated("gate-run"))
    approved = CliRunner().invoke(main, ["run", job, "--approve"], catch_exceptions=False)
    assert approved.exit_code == 0, approved.output
    assert f"[approve] waiting for approval: {MESSAGE}" in approved.output
    assert f"[approve] approved as {CALLER}" in approved.output
    assert re.search(r"^approve +APPROVED +- +- +- ", approved.output, re.M)
    rejected = CliRunner().invoke(main, ["run", job, "--reject"], catch_exceptions=False)
    assert rejected.exit_code == 1, rejected.output
    assert re.search(r"^restore +SKIPPED ", rejected.output, re.M)
    assert "job gate-run: REJECTED" in rejected.output


def test_run_without_a_terminal_or_an_answer_starts_nothing(
    project: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(project)
    runs = project / ".longjob" / "runs"
    before = set(runs.iterdir()) if runs.is_dir() else set()
    job = write_job(tmp_path, gated("gate-no-terminal"))
    result = CliRunner().invoke(main, ["run", job])
    assert result.exit_code == 2
    assert (
        "stage approve asks for an approval and there is no terminal to ask on: pass "
        "--approve or --reject" in result.output
    )
    assert (set(runs.iterdir()) if runs.is_dir() else set()) == before
    both = CliRunner().invoke(main, ["run", job, "--approve", "--reject"])
    assert both.exit_code == 2
    assert "--approve or --reject, not both" in both.output


def run_on_a_terminal(project: Path, job: str, typed: bytes | None) -> tuple[int, str]:
    """`longjob run JOB` on a pseudo-terminal; ``typed`` is answered at the prompt."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(VENV_BIN / "longjob"), "run", job],
        cwd=project,
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        output += chunk
        if typed is not None and b"approve? [y/N] " in output:
            os.write(leader, typed)
            typed = None
    os.close(leader)
    return process.wait(timeout=60), output.decode(errors="replace")


def test_run_asks_on_the_terminal_until_the_timeout(project: Path, tmp_path: Path) -> None:
    job = write_job(tmp_path, gated("gate-terminal"))
    code, output = run_on_a_terminal(project, job, b"y\n")
    assert code == 0, output
    assert "[approve] approve? [y/N] y" in output
    assert f'approved by {CALLER}: "answered at the terminal (longjob run)"' in output
    quiet = write_job(tmp_path, gated("gate-quiet", timeout=2))
    code, output = run_on_a_terminal(project, quiet, None)
    assert code == 1, output
    assert "[approve] no answer within 2s" in output
    assert "job gate-quiet: TIMED_OUT" in output


def test_the_guarded_prune_example_on_postgresql(project: Path) -> None:
    """jobs/examples/guarded-prune.json against this machine's PostgreSQL: the backup and
    the report run, the prune waits for its approval; the roles need what they are granted
    (Notify writes the request, the state machine spends it) and nothing is refused."""
    document = json.loads((ROOT / "jobs" / "examples" / "guarded-prune.json").read_text())
    application = load_application(project, {"RetryDelaySeconds": "1"})
    for approve, status in ((False, "REJECTED"), (True, "SUCCEEDED")):
        with LocalStack(application, ProcessLauncher(project), 2.0) as local:
            arn, name = start(local, document)
            pending(local, name, seconds=120)
            answer(local.aws, local.stack, arn, approve)  # type: ignore[arg-type]
            _result, summary, _text, _logs, _history = finish(local, arn)
            report = {row["role"]: row for row in local.iam_report() or []}
            left = local.aws.dynamodb.get_item(  # type: ignore[union-attr]
                TableName=local.stack.lock_table,  # type: ignore[union-attr]
                Key={"job": {"S": approval_key(name)}},
            ).get("Item")
        assert summary["status"] == status, summary
        gate, prune = ("APPROVED", "SUCCEEDED") if approve else ("REJECTED", "SKIPPED")
        assert statuses(summary) == ["SUCCEEDED", "SUCCEEDED", gate, prune]
        assert {row["role"]: row["denied"] for row in report.values()} == {r: [] for r in report}
        used = {row["action"] for row in report["longjob-local-NotifyFunctionRole"]["used"]}
        assert "dynamodb:PutItem" in used
        # Check answer spends an approval's item; a rejected one's token is spent by the
        # rejection, and the item expires (TTL) a day after the wait.
        assert (left is None) is approve
