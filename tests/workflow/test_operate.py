"""Operating a deployed stack: start/watch/logs/status/history/stop/redrive against a stack in
moto, its state machine run for real by the local engine (tasks log to CloudWatch Logs as
awslogs would)."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from longjob.cli import main
from longjob.engine.local_engine import LocalEngine
from longjob.stack.application import LocalApplication
from tests.conftest import VENV_BIN

from .test_run_command import write

STACK = "longjob-ops-test"


@pytest.fixture(scope="module")
def stack(engine: LocalEngine, application: LocalApplication) -> dict[str, str]:
    machine = engine.create_state_machine(
        application.definition, application.substitutions, name=f"{STACK}-job"
    )
    outputs = {
        "StateMachineArn": machine,
        "LogGroupName": application.substitutions["LogGroupName"],
        "ClusterArn": application.substitutions["Cluster"],
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:longjob",
        "RepositoryUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/longjob",
        "LockTableName": application.substitutions["LockTable"],
    }
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName=STACK, TemplateBody=json.dumps(template)
    )
    return outputs


def longjob(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def bash(name: str, script: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "run": ["bash", f"t/{script}"], **fields}


def executions(stack: dict[str, str]) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    return sfn.list_executions(stateMachineArn=stack["StateMachineArn"])["executions"]


def wait_until(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_start_follow_shows_progress_and_lines_in_order(stack, tmp_path: Path) -> None:
    job = write(
        tmp_path / "job.json",
        {
            "job": "ops-two-stages",
            "stages": [
                bash("first", "exit.sh", env={"EXIT_CODE": "0"}),
                {
                    "name": "each",
                    "forEach": ["a", "b"],
                    "maxConcurrency": 2,
                    "run": ["bash", "t/exit.sh", "item={item}"],
                },
            ],
        },
    )
    result = longjob("start", job, "--stack", STACK, "--follow", "--poll", "0.2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("started arn:aws:states:us-east-1:123456789012:execution:")
    assert lines[0].split(":")[-1].startswith("ops-two-stages-")
    assert lines[1].startswith("console https://us-east-1.console.aws.amazon.com/states/")
    # Progress and log lines of each task, in order: start, its output, its end.
    for label in ("first", "each:a", "each:b"):
        mine = [line for line in lines if line.startswith(f"[{label}] ")]
        assert mine[0] == f"[{label}] attempt 1: starting task"
        assert mine[1].startswith(f"[{label}] attempt 1: task ")
        assert any(line.startswith(f'[{label}] {{"longjob":"start"') for line in mine)
        assert mine[-1].startswith(f"[{label}] attempt 1: exit code 0")
        assert len(mine) == len(set(mine)), "a line was printed twice"
    assert "[each:b] args: item=b" in lines
    assert lines.index("[first] args:") < lines.index("[each:a] args: item=a")
    assert lines[-1].startswith("job ops-two-stages: SUCCEEDED (ops-two-stages-")


def test_start_follow_exit_codes(stack, engine: LocalEngine, tmp_path: Path) -> None:
    failing = write(
        tmp_path / "f.json",
        {"job": "ops-fails", "stages": [bash("boom", "exit.sh", env={"EXIT_CODE": "5"})]},
    )
    result = longjob("start", failing, "--stack", STACK, "--follow", "--poll", "0.2")
    assert result.exit_code == 1
    assert "[boom] attempt 1: FAILED, exit code 5" in result.output
    assert "boom: FAILED, exit code 5, 1 attempt(s)" in result.output

    pidfile = tmp_path / "pid"
    long_job = {
        "job": "ops-exclusive",
        "stages": [bash("long", "sleep.sh", env={"PIDFILE": str(pidfile)})],
    }
    started = longjob("start", write(tmp_path / "l.json", long_job), "--stack", STACK)
    assert started.exit_code == 0
    first = started.output.split()[1]
    wait_until(pidfile.exists)
    try:
        skipped = longjob(
            "start",
            write(tmp_path / "s.json", long_job),
            "--stack",
            STACK,
            "--follow",
            "--poll",
            "0.2",
        )
        assert skipped.exit_code == 3
        assert "job ops-exclusive: SKIPPED" in skipped.output
    finally:
        stopped = longjob("stop", first, "--stack", STACK)
    assert stopped.exit_code == 0
    assert stopped.output == f"stopped {first}\n"
    engine.wait(first)
    assert longjob("status", first, "--stack", STACK, "--json").exit_code == 0
    status = json.loads(longjob("status", first, "--stack", STACK, "--json").output)
    assert status["status"] == "ABORTED"


def test_invalid_document_starts_nothing(stack, tmp_path: Path) -> None:
    before = len(executions(stack))
    bad = write(tmp_path / "bad.json", {"job": "x", "stages": [{"name": "a", "run": ["ksh", "x"]}]})
    result = CliRunner().invoke(main, ["start", bad, "--stack", STACK, "--follow"])
    assert result.exit_code == 2
    assert "/stages/0/run/0: must be one of" in result.output
    assert len(executions(stack)) == before


def test_logs_status_history_after_a_run(stack, tmp_path: Path) -> None:
    job = write(
        tmp_path / "job.json",
        {
            "job": "ops-report",
            "stages": [
                {"name": "each", "forEach": ["x", "y"], "run": ["bash", "t/exit.sh", "{item}"]},
                bash("last", "exit.sh", env={"EXIT_CODE": "2"}),
            ],
        },
    )
    result = longjob("start", job, "--stack", STACK, "--follow", "--poll", "0.2")
    assert result.exit_code == 1
    name = result.output.split()[1].rsplit(":", 1)[-1]

    logs = longjob("logs", name, "--stack", STACK)
    assert logs.exit_code == 0
    lines = logs.output.splitlines()
    assert lines[0] == "== each"
    assert (
        lines.index("[each:x] args: x") < lines.index("[each:y] args: y") < lines.index("== last")
    )
    assert "[last] args:" in lines
    only = longjob("logs", name, "--stack", STACK, "--stage", "last", "--json")
    (entry,) = json.loads(only.output)
    assert (entry["stage"], entry["exitCode"], entry["status"]) == ("last", 2, "FAILED")
    assert any(line["message"].strip() == "args:" for line in entry["lines"])

    status = longjob("status", name, "--stack", STACK)
    assert f"execution {name} (job ops-report): FAILED / FAILED" in status.output
    assert "last   FAILED     2" in status.output
    assert status.output.splitlines()[1].split()[-1] == "COST"
    assert "cost (estimate, us-east-1, prices " in status.output
    cost = json.loads(longjob("status", name, "--stack", STACK, "--json").output)["summary"]["cost"]
    # Three tasks of a minute each at least, ARM64, at ECS's default task size (this module's
    # engine has no task definition): 0.25 vCPU, 0.5 GB, the 20 GiB of storage that are free.
    per_task = 60 * (0.25 * 0.03238 + 0.5 * 0.00356) / 3600
    assert cost["fargate"] + cost["ephemeralStorage"] == pytest.approx(3 * per_task, abs=2e-6)

    history = longjob("history", "--stack", STACK, "--job", "ops-report")
    header, row = history.output.splitlines()[:2]
    assert header.split() == [
        "EXECUTION",
        "JOB",
        "STATUS",
        "STARTED",
        "(UTC)",
        "DURATION",
        "FAILED",
        "STAGE",
        "EXIT",
        "COST",
    ]
    assert row.split()[:3] == [name, "ops-report", "FAILED"]
    assert row.split()[-3:] == ["last", "2", f"${cost['total']:.4f}"]
    runs = json.loads(longjob("history", "--stack", STACK, "--limit", "1", "--json").output)
    assert len(runs) == 1


def test_redrive_resumes_from_the_failed_stage(stack, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    ledger = tmp_path / "ledger"
    job = write(
        tmp_path / "job.json",
        {
            "job": "ops-resume",
            "stages": [
                bash("done", "count.sh", env={"LEDGER": str(ledger)}),
                bash("flaky", "flaky.sh", env={"COUNTER": str(counter), "PASS_ON": "2"}),
                bash("after", "count.sh", env={"LEDGER": str(ledger)}),
            ],
        },
    )
    first = longjob("start", job, "--stack", STACK, "--follow", "--poll", "0.2")
    assert first.exit_code == 1
    assert ledger.read_text().split() == ["done:"]
    name = first.output.split()[1]
    result = longjob("redrive", name, "--stack", STACK, "--follow", "--poll", "0.2")
    assert result.exit_code == 0, result.output
    assert "resuming ops-resume from stage flaky (2 of 3 stages)" in result.output
    assert ledger.read_text().split() == ["done:", "after:"]  # "done" did not run again
    # The redriven run's tasks get the failed run's checkpoints (LONGJOB_CHECKPOINT).
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arns = [e["executionArn"] for e in executions(stack)]
    redriven = next(
        json.loads(d["input"])
        for d in (sfn.describe_execution(executionArn=a) for a in arns)
        if json.loads(d["input"]).get("checkpointsFrom")
    )
    assert redriven["checkpointsFrom"] == name.rsplit(":", 1)[-1]
    assert [s["name"] for s in redriven["stages"]] == ["flaky", "after"]
    again = CliRunner().invoke(main, ["redrive", name.rsplit(":", 1)[-1], "--stack", STACK])
    assert again.exit_code == 0  # a failed run can be resumed more than once


def approval_job(tmp_path: Path, job: str) -> str:
    return write(
        tmp_path / f"{job}.json",
        {
            "job": job,
            "stages": [
                bash("check", "exit.sh", env={"EXIT_CODE": "0"}),
                {"name": "go-ahead", "approval": {"message": "Purge the old rows?"}},
                bash("purge", "exit.sh", env={"EXIT_CODE": "0"}),
            ],
        },
    )


def follow_in_background(stack: dict[str, str], arn: str) -> tuple[threading.Thread, dict]:
    """`watch`'s follower on another thread (CliRunner is not thread-safe): its lines and
    exit code land in the returned dict."""
    from longjob.cli.operate import follow_run
    from longjob.stack.deployed import Aws

    aws = Aws(region="us-east-1")
    seen: dict[str, Any] = {"lines": []}

    def follow() -> None:
        seen["code"] = follow_run(
            aws, aws.stack(STACK), arn, 0.1, live_tail=False, say_line=seen["lines"].append
        )

    thread = threading.Thread(target=follow)
    thread.start()
    return thread, seen


def wait_for_request(stack: dict[str, str], name: str) -> None:
    table = boto3.client("dynamodb", region_name="us-east-1")
    wait_until(
        lambda: (
            "Item"
            in table.get_item(
                TableName=stack["LockTableName"], Key={"job": {"S": f"approval/{name}"}}
            )
        )
    )


def test_approve_answers_a_waiting_run_and_watch_shows_how(stack, tmp_path: Path) -> None:
    started = longjob("start", approval_job(tmp_path, "ops-approve"), "--stack", STACK)
    assert started.exit_code == 0, started.output
    arn = started.output.split()[1]
    name = arn.rsplit(":", 1)[-1]
    thread, seen = follow_in_background(stack, arn)
    wait_for_request(stack, name)
    waiting = longjob("status", name, "--stack", STACK)
    assert "go-ahead: waiting for approval: Purge the old rows?" in waiting.output
    assert f"go-ahead:   longjob approve {name} --stage go-ahead --stack {STACK}" in waiting.output
    wrong = longjob("approve", name, "--stack", STACK, "--stage", "check")
    assert wrong.exit_code == 1
    assert f"longjob: {name} waits for an approval at stage go-ahead, not check" in wrong.output
    answered = longjob(
        "approve", name, "--stack", STACK, "--stage", "go-ahead", "--comment", "rows checked"
    )
    assert answered.exit_code == 0, answered.output
    assert answered.output == (
        f"approved stage go-ahead of {name} as arn:aws:sts::123456789012:user/moto\n"
    )
    thread.join(60)
    assert seen["code"] == 0, seen["lines"]
    lines = seen["lines"]
    assert "[go-ahead] waiting for approval: Purge the old rows?" in lines
    command = f"longjob approve {name} --stage go-ahead --stack {STACK}"
    assert f"[go-ahead]   {command}" in lines
    assert f'[go-ahead]   {command} --reject --comment "why"' in lines
    assert any(line.startswith("[go-ahead] answer by ") for line in lines)
    status = longjob("status", name, "--stack", STACK)
    assert (
        'go-ahead: approved by arn:aws:sts::123456789012:user/moto: "rows checked"' in status.output
    )
    again = longjob("approve", name, "--stack", STACK)
    assert again.exit_code == 1
    assert f"longjob: {name} is not running (SUCCEEDED): nothing to answer" in again.output


def test_approve_reject_ends_the_run_rejected(stack, tmp_path: Path) -> None:
    started = longjob("start", approval_job(tmp_path, "ops-reject"), "--stack", STACK)
    arn = started.output.split()[1]
    name = arn.rsplit(":", 1)[-1]
    wait_for_request(stack, name)
    answered = longjob("approve", name, "--stack", STACK, "--reject", "--comment", "not now")
    assert answered.exit_code == 0, answered.output
    assert answered.output.startswith(f"rejected stage go-ahead of {name} as ")
    watched = longjob("watch", name, "--stack", STACK, "--poll", "0.2")
    assert watched.exit_code == 1
    assert f"job ops-reject: REJECTED ({name})" in watched.output
    history = longjob("history", "--stack", STACK, "--job", "ops-reject")
    assert re.search(rf"{name} +ops-reject +REJECTED ", history.output)
    # A rejected run redrives from its approval stage, which asks again.
    redriven = longjob("redrive", name, "--stack", STACK)
    assert redriven.exit_code == 0, redriven.output
    assert "resuming ops-reject from stage go-ahead (2 of 3 stages)" in redriven.output
    again = redriven.output.split("started ")[1].split()[0].rsplit(":", 1)[-1]
    wait_for_request(stack, again)
    assert longjob("approve", again, "--stack", STACK).exit_code == 0
    assert longjob("watch", again, "--stack", STACK, "--poll", "0.2").exit_code == 0
    bad = longjob("approve", name, "--stack", STACK, "--comment", "x" * 501)
    assert bad.exit_code == 2
    assert "--comment" in bad.output
    assert "at most 500 characters" in bad.output


def test_redrive_asks_again_the_approval_before_the_failed_stage(stack, tmp_path: Path) -> None:
    """The answer was given for the failed run: its redrive asks before the failed stage
    again, without running the stages before it."""
    counter = tmp_path / "count"
    job = write(
        tmp_path / "flaky-after-approval.json",
        {
            "job": "ops-reask",
            "stages": [
                bash("check", "exit.sh", env={"EXIT_CODE": "0"}),
                {"name": "go-ahead", "approval": {"message": "Purge?"}},
                bash("purge", "flaky.sh", env={"COUNTER": str(counter), "PASS_ON": "2"}),
            ],
        },
    )
    name = longjob("start", job, "--stack", STACK).output.split()[1].rsplit(":", 1)[-1]
    wait_for_request(stack, name)
    assert longjob("approve", name, "--stack", STACK).exit_code == 0
    assert longjob("watch", name, "--stack", STACK, "--poll", "0.2").exit_code == 1
    redriven = longjob("redrive", name, "--stack", STACK)
    assert "resuming ops-reask from stage purge (1 of 3 stages, asking go-ahead again first)" in (
        redriven.output
    )
    again = redriven.output.split("started ")[1].split()[0].rsplit(":", 1)[-1]
    wait_for_request(stack, again)
    assert longjob("approve", again, "--stack", STACK, "--stage", "go-ahead").exit_code == 0
    watched = longjob("watch", again, "--stack", STACK, "--poll", "0.2")
    assert watched.exit_code == 0, watched.output
    assert re.search(r"^go-ahead +APPROVED", watched.output, re.M)
    assert "[check]" not in watched.output


def test_approve_refuses_a_run_that_waits_for_nothing(stack, tmp_path: Path) -> None:
    job = write(
        tmp_path / "slow.json",
        {"job": "ops-no-gate", "stages": [bash("nap", "sleep.sh", env={"SLEEP": "2"})]},
    )
    started = longjob("start", job, "--stack", STACK)
    name = started.output.split()[1].rsplit(":", 1)[-1]
    refused = longjob("approve", name, "--stack", STACK)
    assert refused.exit_code == 1
    assert f"longjob: {name} is not waiting for an approval" in refused.output
    assert longjob("watch", name, "--stack", STACK, "--poll", "0.2").exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "nope", "--stack", "no-such-stack"], "longjob: stack not found: "),
        (["status", "no-such-execution", "--stack", STACK], "longjob: execution not found: "),
        (["logs", "x", "--stack", STACK, "--stage", "nope"], "longjob: execution not found"),
    ],
)
def test_errors_are_one_line(stack, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_stack_option_is_required() -> None:
    result = CliRunner().invoke(main, ["status", "x"], env={"LONGJOB_STACK": None})
    assert result.exit_code == 2
    assert "Missing option '--stack'" in result.output


# --- one run, one report: `run` on this machine reads as `start --follow` on a stack -----------


def report_tail(output: str) -> list[str]:
    """The report of a followed run (the stage table, failures, reason, notification,
    verdict) with what differs from run to run (names, task ids, times) made generic."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("STAGE ") or line == "")
    tail = lines[start:]
    generic = []
    for line in tail:
        # Where the rest of a failed task's log is: the console deployed, a file locally.
        if line.startswith("Logs Insights, the run's time: "):
            generic.pop()  # and the blank line before it
            continue
        line = re.sub(r"^  (log: https://|log file: ).*", "  <where the log is>", line)
        line = re.sub(r"\b[0-9a-f]{32}\b", "<task>", line)
        line = re.sub(r"\(([a-z-]+)-\d{8}T\d{6}Z-[0-9a-f]{4}\)", r"(\1-<time>)", line)
        line = re.sub(r"\b\d+(m\d\ds|s)\b", "<t>", line)
        # What it cost: this module's engine runs tasks at ECS's default size, `run` at the
        # template's, so the figures differ; the lines must not.
        line = re.sub(r"\$\d+\.\d{4}", "<$>", line)
        line = re.sub(r"\(\d+ transitions\)", "(<n> transitions)", line)
        generic.append(line)
    while generic and generic[0] == "":
        generic.pop(0)
    return generic


OUTCOMES = {
    "succeeded": ({"job": "same", "stages": [bash("ok", "exit.sh")]}, 0, "SUCCEEDED"),
    "failed": (
        {"job": "same", "stages": [bash("boom", "exit.sh", env={"EXIT_CODE": "5"})]},
        1,
        "FAILED",
    ),
    "timed-out": (
        {
            "job": "same",
            "stages": [bash("slow", "sleep.sh", env={"PIDFILE": "/dev/null"}, timeoutSeconds=2)],
        },
        1,
        "FAILED",
    ),
}


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_run_and_start_follow_print_the_same_report_and_exit_code(
    stack, project: Path, tmp_path: Path, outcome: str
) -> None:
    document, code, status = OUTCOMES[outcome]
    job = write(tmp_path / "job.json", document)
    deployed = longjob("start", job, "--stack", STACK, "--follow", "--poll", "0.2")
    local = subprocess.run(
        [str(VENV_BIN / "longjob"), "run", job],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert deployed.exit_code == local.returncode == code, local.stdout + local.stderr
    assert report_tail(deployed.output) == report_tail(local.stdout)
    assert report_tail(local.stdout)[-1] == f"job same: {status} (same-<time>)"


def test_an_invalid_document_is_refused_the_same_way(stack, project: Path, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.json", {"job": "x", "stages": [{"name": "a", "run": ["ksh", "x"]}]})
    deployed = CliRunner().invoke(main, ["start", bad, "--stack", STACK, "--follow"])
    local = subprocess.run(
        [str(VENV_BIN / "longjob"), "run", bad],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert deployed.exit_code == local.returncode == 2
    assert deployed.output.strip() == local.stderr.strip()


def test_a_skipped_run_reports_the_same_on_both_paths(stack, engine: LocalEngine) -> None:
    """A local run has a lock table of its own, so only a stack's run can be skipped; the
    report and exit code come from the same watcher either way."""
    from longjob.report.watcher import report, run_exit_code

    summary = {
        "job": "exclusive",
        "execution": "exclusive-2",
        "status": "SKIPPED",
        "reason": "another run of this job is in progress: arn:…:exclusive-1",
        "notify": "always",
        "stages": [],
        "notification": "sent",
    }
    description = {
        "name": "exclusive-2",
        "status": "SUCCEEDED",
        "output": json.dumps(summary),
        "input": json.dumps({"job": "exclusive"}),
    }
    lines: list[str] = []
    report(description, lines.append)
    assert lines == [
        "",
        "another run of this job is in progress: arn:…:exclusive-1",
        "",
        "notification: sent",
        "job exclusive: SKIPPED (exclusive-2)",
    ]
    assert run_exit_code(description) == 3


def test_a_wide_stage_s_progress_failures_and_logs(stack, tmp_path: Path) -> None:
    job = write(
        tmp_path / "job.json",
        {
            "job": "ops-wide",
            "stages": [
                {
                    "name": "each",
                    "forEach": list(range(45)),
                    "maxConcurrency": 5,
                    "run": ["bash", "t/fail_some.sh", "{item}"],
                    "env": {"FAIL_PERCENT": "2"},
                    "toleratedFailureCount": 1,
                }
            ],
        },
    )
    result = longjob("start", job, "--stack", STACK, "--follow", "--poll", "0.2")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    progress = [line for line in lines if line.startswith("[each] items: ")]
    assert progress[-1].endswith(" of 45")
    assert re.search(
        r"^each +FAILED +1 +1 +\d+/45 \(\d+ failed, \d+ not run\)", result.output, re.M
    )
    # Items 0 and 1 failed: over the one tolerated, so no further item started.
    assert "each [0]: FAILED, exit code 1, 1 attempt(s)" in result.output
    # A deployed stack's report links the item's child execution in the console.
    assert "item's execution: https://us-east-1.console.aws.amazon.com/states/" in result.output
    name = lines[0].split()[1].rsplit(":", 1)[-1]

    text = longjob("logs", name, "--stack", STACK).output.splitlines()
    assert re.match(r"== each \(wide stage, items succeeded: \d+/45 \(\d+ failed, ", text[0])
    logs = json.loads(longjob("logs", name, "--stack", STACK, "--json").output)
    failed = {entry["item"]: entry for entry in logs}
    assert set(failed) <= {"0", "1"}
    assert "0" in failed
    assert any("item 0 fails on purpose" in line["message"] for line in failed["0"]["lines"])

    status = longjob("status", name, "--stack", STACK)
    assert f"execution {name} (job ops-wide): FAILED / FAILED" in status.output
    assert "failed" in status.output
