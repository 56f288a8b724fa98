"""Failure reports that explain themselves (docs/design.md, "Failure reports").

Each cause is a real local run on the project's stack: the stage fails as it would on AWS,
and both the run's report (what `longjob run`, `watch` and `status` print) and the captured
notification say why in plain words, what to try, the task's last log lines, and where the
rest of its log is.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from longjob.cli.operate import failure_details, start_run
from longjob.engine.launchers import ContainerLauncher, ProcessLauncher
from longjob.engine.local_engine import RunResult
from longjob.report.watcher import report
from longjob.stack.application import load_application
from longjob.stack.local import LocalStack
from tests.conftest import VENV_BIN

from .conftest import job_summary, scratch, stage

CONSOLE = "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:"
GROUP = "$252Flongjob$252Flongjob-local$252Ftasks"  # /longjob/longjob-local/tasks, encoded twice


@dataclass
class FailedRun:
    result: RunResult
    summary: dict[str, Any]
    report: str  # the run's report, as `longjob run` prints it after the live lines
    notification: str  # the notification's text, as SNS and the webhook get it
    cloudwatch: str  # every event of the task log group (what `watch` and `logs` read)

    @property
    def failure(self) -> dict[str, Any]:
        return next(f for s in self.summary["stages"] for f in s.get("failures") or [])


def failed_run(
    project: Path,
    document: dict[str, Any],
    launcher: Any = None,
    secrets: dict[str, str] | None = None,
    fault: str | None = None,
    during: Callable[[LocalStack], None] | None = None,
    parameters: dict[str, str] | None = None,
) -> FailedRun:
    application = load_application(project, {"RetryDelaySeconds": "1", **(parameters or {})})
    launcher = launcher or ProcessLauncher(project)
    with LocalStack(application, launcher, 2.0, secrets) as local:
        assert local.aws is not None
        assert local.stack is not None
        if fault is not None:
            local.engine.inject_ecs_faults(fault)
        arn = start_run(local.aws, local.stack, document, f"{document['job']}-local")
        if during is not None:
            during(local)
        result = local.end(arn)
        lines: list[str] = []
        description = local.aws.sfn.describe_execution(executionArn=arn)
        report(description, lines.append, failure_details(local.aws, local.stack, local.log_file))
        events = local.aws.logs.filter_log_events(logGroupName=local.stack.log_group)["events"]
    summary = job_summary(result)
    assert summary is not None, result.cause
    assert result.notifications, "no notification was sent"
    return FailedRun(
        result,
        summary,
        "\n".join(lines),
        result.notifications[-1].message,
        "\n".join(e["message"] for e in events),
    )


def last_lines(run: FailedRun, count: int = 10) -> list[str]:
    """The script's last lines in its log file (the entrypoint's JSON lines left out)."""
    text = Path(run.result.tasks[0].log_file).read_text()
    return [line for line in text.splitlines() if not line.startswith('{"longjob":')][-count:]


def assert_explained(run: FailedRun, explanation: str, hint: str, log_lines: list[str]) -> None:
    """Report and notification: the stage table first, then the plain reason, the hint,
    the log lines; the notification links the stream, the report names the file."""
    for text in (run.report, run.notification):
        assert text.index("STAGE ") < text.index(explanation), text
        assert f"  hint: {hint}" in text, text
        shown = [line[4:] for line in text.splitlines() if line.startswith("  | ")]
        assert shown == log_lines, text
    task_id = run.failure["taskId"]
    if task_id and run.result.tasks and run.result.tasks[0].log_file:
        assert f"  log file: {run.result.tasks[0].log_file}" in run.report
        assert f"log-events/toolbox$252Ftoolbox$252F{task_id}" in run.notification
        assert f"{CONSOLE}log-groups/log-group/{GROUP}/log-events/" in run.notification
        assert f"Logs Insights, the run's time: {CONSOLE}logs-insights" in run.notification


def test_a_script_that_fails_is_explained_with_its_last_lines(project: Path) -> None:
    failing = stage("migrate", "noisy_failure.sh", env={"NOISY_LINES": "30"})
    run = failed_run(project, {"job": "lines", "notifyLogLines": 4, "stages": [failing]})
    assert run.failure["exitCode"] == 3
    assert run.failure["stopCode"] == "EssentialContainerExited"
    assert_explained(
        run,
        "the script exited with code 3",
        "its last log lines say why",
        [
            "working on step 28",
            "working on step 29",
            "working on step 30",
            "error: the table 'accounts' is locked",
        ],
    )
    assert "  reason: Essential container in task exited" in run.report


def test_ten_lines_by_default_and_none_when_asked(project: Path) -> None:
    failing = stage("migrate", "noisy_failure.sh")
    run = failed_run(project, {"job": "lines", "stages": [failing]})
    assert "  last 10 log line(s):" in run.notification
    run = failed_run(project, {"job": "lines", "notifyLogLines": 0, "stages": [failing]})
    assert "log line(s)" not in run.notification
    assert "the script exited with code 3" in run.notification


def test_an_unresolved_secret_reference(project: Path) -> None:
    failing = stage("backup", "exit.sh", env={"PGPASSWORD": "ssm:/longjob/dev/missing"})
    run = failed_run(project, {"job": "secret", "stages": [failing]})
    assert run.failure["exitCode"] == 125
    assert_explained(
        run,
        "a secret reference could not be resolved, so the script never started",
        "the log names the variable and the reference: check that the parameter or secret "
        "exists and that the task role may read it",
        [
            "entrypoint: PGPASSWORD=ssm:/longjob/dev/missing: not found",
            "entrypoint: secret references could not be resolved; the script was not started",
        ],
    )


def test_a_script_stopped_at_its_deadline(project: Path) -> None:
    slow = stage("vacuum", "sleep.sh", env={"SLEEP": "30"}, timeoutSeconds=4)
    run = failed_run(project, {"job": "slow", "stages": [slow]})
    assert run.failure["status"] == "TIMED_OUT"
    assert run.failure["exitCode"] == 124
    assert "the script was stopped at its deadline" in run.notification
    assert_explained(
        run,
        "the script was stopped at its deadline (SIGTERM, then SIGKILL after the grace)",
        "raise the stage's timeoutSeconds, or make the script do less per run",
        last_lines(run),
    )


def test_a_spot_interruption(project: Path) -> None:
    slow = stage("reindex", "sleep.sh", env={"SLEEP": "30"}, capacity="spot")
    run = failed_run(
        project,
        {"job": "spot", "stages": [slow]},
        fault="spot-interruption",
        parameters={"CpuArchitecture": "X86_64"},  # Fargate Spot runs X86_64 tasks only
    )
    assert run.failure["stopCode"] == "SpotInterruption"
    assert run.failure["reason"] == "Your Spot Task was interrupted."
    assert_explained(
        run,
        "Fargate Spot took its capacity back (a Spot interruption)",
        'give the stage "capacity": "spot-then-on-demand" (an interrupted attempt runs again '
        'on demand at once, without using a retry), or "on-demand"',
        ["sleeping 30s"],
    )


def test_a_task_stopped_by_a_user(project: Path) -> None:
    def stop_the_task(local: LocalStack) -> None:
        runtime = local.engine.runtime
        for _ in range(200):
            running = [t for t in runtime.tasks.values() if t.started_at and not t.done.is_set()]
            if running:
                time.sleep(0.3)  # its first line is out
                runtime.stop(running[0].task_arn, "Task stopped by user")
                return
            time.sleep(0.05)

    slow = stage("reindex", "sleep.sh", env={"SLEEP": "30"})
    run = failed_run(project, {"job": "stopped", "stages": [slow]}, during=stop_the_task)
    assert run.failure["stopCode"] == "UserInitiated"
    assert run.failure["reason"] == "Task stopped by user"
    assert_explained(
        run,
        "the task was stopped before its script ended (exit code 143)",
        "someone (or something) called ecs:StopTask; CloudTrail names the caller",
        ["sleeping 30s"],
    )


def test_a_log_write_the_execution_role_may_not_make(project: Path, tmp_path: Path) -> None:
    broken = scratch(
        project,
        tmp_path,
        (
            'Resource: !Sub "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}'
            ':log-group:${TaskLogGroup}:log-stream:*"',
            'Resource: !Sub "${TaskLogGroup.Arn}:log-stream:*"',
        ),
    )
    run = failed_run(broken, {"job": "nologs", "stages": [stage("probe", "exit.sh")]})
    assert run.failure["stopCode"] == "TaskFailedToStart"
    assert run.failure["exitCode"] is None
    for text in (run.report, run.notification):
        assert "  the task could not write its logs" in text
        assert "  hint: check the execution role (logs:CreateLogStream, logs:PutLogEvents" in text
        assert "  reason: ResourceInitializationError: failed to validate logger args" in text
    assert "(the task wrote no log line)" in run.report


def test_a_script_that_prints_its_secret_never_shows_it(project: Path) -> None:
    value = "n0t-4-l0g-v4lu3"
    leaky = stage("connect", "print_secret.sh", env={"DB_PASSWORD": "ssm:/longjob/db"})
    document = {"job": "leaky", "stages": [leaky]}
    run = failed_run(project, document, secrets={"ssm:/longjob/db": value})
    log = Path(run.result.tasks[0].log_file).read_text()
    assert "connecting with password ***" in log
    assert "DB_PASSWORD=***" in log
    assert run.failure["exitCode"] == 3
    for text in (log, json.dumps(run.summary), run.report, run.notification, run.cloudwatch):
        assert value not in text
    assert "DB_PASSWORD=***" in run.cloudwatch
    assert "  | connecting with password ***" in run.notification

    # The CLI: the live lines, the report and the JSON document.
    (tmp := project / ".longjob").mkdir(exist_ok=True)
    (tmp / "secrets.json").write_text(json.dumps({"ssm:/longjob/db": value}))
    (tmp / "leaky.json").write_text(json.dumps(document))
    for extra in ([], ["--json"]):
        cli = subprocess.run(
            [
                str(VENV_BIN / "longjob"),
                "run",
                str(tmp / "leaky.json"),
                "--secrets",
                str(tmp / "secrets.json"),
                *extra,
            ],
            capture_output=True,
            text=True,
            cwd=project,
            timeout=120,
            check=False,
        )
        assert cli.returncode == 1, cli.stderr
        assert value not in cli.stdout + cli.stderr
        assert "connecting with password ***" in cli.stdout + cli.stderr
    failure = json.loads(cli.stdout)["summary"]["stages"][0]["failures"][0]
    assert failure["explanation"] == "the script exited with code 3"
    assert failure["logLines"] == ["connecting with password ***", "DB_PASSWORD=***"]
    assert failure["logFile"].endswith(".log")


# --- the container runtime: what only a container can show -------------------------------


@pytest.fixture
def podman(image: str) -> Callable[[str], ContainerLauncher]:
    """Podman tasks (the image fixture skips, with its reason, where Podman is absent)."""
    return lambda tag: ContainerLauncher("podman", tag)


def test_a_missing_image_cannot_be_pulled(project: Path, podman) -> None:
    launcher = podman("localhost/longjob-toolbox:no-such-tag")
    run = failed_run(project, {"job": "noimage", "stages": [stage("probe", "exit.sh")]}, launcher)
    assert run.failure["stopCode"] == "TaskFailedToStart"
    assert run.failure["reason"].startswith("CannotPullContainerError: ")
    assert "localhost/longjob-toolbox:no-such-tag: not found" in run.failure["reason"]
    for text in (run.report, run.notification):
        assert "  the image could not be pulled" in text
        assert "  hint: the image tag does not exist in the repository" in text


@pytest.mark.image
def test_a_script_killed_for_memory(project: Path, podman, scripts_image: str) -> None:
    hog = {"name": "load", "run": ["python3", "t/hog.py"], "cpu": 256, "memory": 512}
    run = failed_run(project, {"job": "hog", "stages": [hog]}, podman(scripts_image))
    assert run.failure["exitCode"] == 137
    assert run.failure["reason"] == "OutOfMemoryError: Container killed due to memory usage"
    assert last_lines(run)[-1].startswith("holding ")
    assert "the kernel never stopped me" not in last_lines(run)
    assert_explained(
        run,
        "the script was killed for memory (exit code 137)",
        "raise the stage's memory (with a cpu that allows it)",
        last_lines(run),
    )
