"""`longjob local up`: the stack on one local endpoint, driven by the real AWS CLI, boto3 and
`longjob --stack local`."""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psutil
import pytest
from botocore.exceptions import ClientError

from longjob.engine.launchers import TASK_MARKER
from longjob.stack.server import ServerInfo
from tests.conftest import ROOT, VENV_BIN

from .conftest import scratch

HELLO = ROOT / "jobs/examples/hello.json"


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


def longjob(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return cli(str(VENV_BIN / "longjob"), *args, cwd=cwd, timeout=timeout)


def aws(info: ServerInfo, *args: str, cwd: Path) -> Any:
    """The real AWS CLI, pointed at the server as `eval "$(longjob local env)"` points it."""
    done = cli(str(VENV_BIN / "aws"), *args, "--output", "json", cwd=cwd, env=info.environment())
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def task_processes(folder: Path) -> list[psutil.Process]:
    """The task processes of the local stack served from ``folder`` (they run in its
    container/ folder)."""
    found = []
    for process in psutil.process_iter(["environ", "cwd"]):
        try:
            if TASK_MARKER in (process.info["environ"] or {}) and str(
                process.info["cwd"] or ""
            ).startswith(str(folder)):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def wait_for(condition: Any, seconds: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def write(path: Path, document: object) -> str:
    path.write_text(json.dumps(document))
    return str(path)


@pytest.fixture(scope="module")
def server(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """A server in the background (--detach), for the whole module."""
    folder = scratch(project, tmp_path_factory.mktemp("server"))
    task = {
        "TaskArn": "arn:aws:ecs:us-east-1:123456789012:task/longjob-local-Cluster/mocked1",
        "LastStatus": "STOPPED",
        "Containers": [{"Name": "toolbox", "ExitCode": 0}],
    }
    mock = write(
        folder / "job.mock.json",
        {
            "StateMachines": {"job": {"TestCases": {"NoTasks": {"Run task": "TaskOk"}}}},
            "MockedResponses": {"TaskOk": {"0-1": {"Return": task}}},
        },
    )
    started = longjob(
        "local",
        "up",
        "--port",
        "0",
        "--detach",
        "--parameter",
        "RetryDelaySeconds=1",
        "--mock-config",
        mock,
        cwd=folder,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    assert "local stack longjob-local on http://127.0.0.1:" in started.stdout
    info = ServerInfo.load(folder)
    yield folder, info
    stopped = longjob("local", "down", cwd=folder)
    assert stopped.returncode == 0, stopped.stderr
    assert not (folder / ".longjob" / "local").exists()
    assert not psutil.pid_exists(info.pid)


def test_the_aws_cli_runs_db_maintenance_for_real(server) -> None:
    folder, info = server
    arn = info.state_machine_arn
    example = ROOT / "jobs/examples/db-maintenance.json"
    started = aws(
        info,
        "stepfunctions",
        "start-execution",
        "--state-machine-arn",
        arn,
        "--name",
        "db-maintenance-cli",
        "--input",
        f"file://{example}",
        cwd=folder,
    )
    execution = started["executionArn"]

    def ended() -> Any:
        described = aws(
            info, "stepfunctions", "describe-execution", "--execution-arn", execution, cwd=folder
        )
        return described if described["status"] != "RUNNING" else None

    described = wait_for(ended, 180, "db-maintenance")
    assert described["status"] == "SUCCEEDED", described.get("cause")
    summary = json.loads(described["output"])
    assert [(s["name"], s["status"]) for s in summary["stages"]] == [
        ("backup", "SUCCEEDED"),
        ("restore-check", "SUCCEEDED"),
        ("prune", "SUCCEEDED"),
        ("report", "SUCCEEDED"),
    ]
    history = aws(
        info, "stepfunctions", "get-execution-history", "--execution-arn", execution, cwd=folder
    )
    assert history["events"][-1]["type"] == "ExecutionSucceeded"
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in aws(
            info, "cloudformation", "describe-stacks", "--stack-name", "longjob-local", cwd=folder
        )["Stacks"][0]["Outputs"]
    }
    assert outputs["StateMachineArn"] == arn
    lines = aws(
        info,
        "logs",
        "filter-log-events",
        "--log-group-name",
        outputs["LogGroupName"],
        "--filter-pattern",
        '"restores cleanly"',
        cwd=folder,
    )["events"]
    assert lines, "the restore check's line is in CloudWatch Logs"


def test_boto3_and_longjob_start_follow_give_the_run_report(server) -> None:
    folder, info = server
    sfn = info.client("stepfunctions")
    execution = sfn.start_execution(
        stateMachineArn=info.state_machine_arn, input=HELLO.read_text()
    )["executionArn"]
    status = wait_for(
        lambda: (s := sfn.describe_execution(executionArn=execution)["status"]) != "RUNNING" and s,
        what="hello via boto3",
    )
    assert status == "SUCCEEDED"

    result = longjob(
        "start", str(HELLO), "--stack", "local", "--follow", "--poll", "0.2", cwd=folder
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[hello-bash] Hello World From a Container" in result.stdout
    assert "hello-python  SUCCEEDED  0" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("job hello: SUCCEEDED (")
    assert "console https://" not in result.stdout  # a local stack has no console
    name = result.stdout.rstrip().splitlines()[-1].split("(")[-1].rstrip(")")
    for command in (["status", name], ["history"], ["logs", name], ["watch", name]):
        done = longjob(*command, "--stack", "local", cwd=folder)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        assert "hello" in done.stdout, command


def test_stop_ends_a_run_aborted_and_its_tasks_with_it(server, tmp_path: Path) -> None:
    folder, _info = server
    document = write(
        tmp_path / "long.json",
        {"job": "long-sleep", "stages": [{"name": "sleep", "run": ["bash", "t/sleep.sh"]}]},
    )
    started = longjob("start", document, "--stack", "local", cwd=folder)
    assert started.returncode == 0, started.stderr
    name = started.stdout.split("execution:")[1].split(":", 1)[1].split()[0]
    wait_for(lambda: task_processes(folder), 60, "the task process")
    stopped = longjob("stop", name, "--stack", "local", cwd=folder)
    assert stopped.returncode == 0, stopped.stderr
    wait_for(lambda: not task_processes(folder), 60, "the task to stop")
    status = longjob("status", name, "--stack", "local", "--json", cwd=folder)
    assert json.loads(status.stdout)["status"] == "ABORTED"


def test_runs_of_one_job_at_once_meet_the_overlap_guard(server, tmp_path: Path) -> None:
    folder, _info = server
    document = write(
        tmp_path / "guarded.json",
        {
            "job": "guarded",
            "stages": [{"name": "sleep", "run": ["bash", "t/sleep.sh"], "env": {"SLEEP": "3"}}],
        },
    )
    runs = [
        subprocess.Popen(
            [str(VENV_BIN / "longjob"), "start", document, "--stack", "local", "--follow"],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    codes = sorted(run.wait(timeout=120) for run in runs)
    assert codes == [0, 3], [run.communicate() for run in runs]


def test_a_client_that_disconnects_mid_stream_leaves_the_server_serving(server) -> None:
    folder, _info = server
    watcher = subprocess.Popen(
        [str(VENV_BIN / "longjob"), "start", str(HELLO), "--stack", "local", "--follow"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    watcher.kill()  # mid-run, mid-poll
    watcher.wait()
    history = longjob("history", "--stack", "local", cwd=folder)
    assert history.returncode == 0, history.stderr


def test_the_endpoint_answers_only_its_key_and_never_a_browser(server) -> None:
    _folder, info = server
    other = boto3.client(
        "stepfunctions",
        endpoint_url=info.endpoint,
        region_name=info.region,
        aws_access_key_id="AKIAOTHERKEY00000000",
        aws_secret_access_key="x",
    )
    with pytest.raises(ClientError) as refused:
        other.list_state_machines()
    assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"
    import urllib.error
    import urllib.request

    # The endpoint is this test's own http://127.0.0.1 server.
    request = urllib.request.Request(info.endpoint, headers={"Origin": "https://evil.example"})  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert denied.value.code == 403


def test_tick_says_when_the_schedule_is_disabled(server) -> None:
    folder, _info = server
    # The module's server runs with the schedule disabled (samconfig's default).
    result = longjob("local", "tick", cwd=folder)
    assert result.returncode == 2
    assert "the local stack's schedule is disabled" in result.stdout


def test_ctrl_c_ends_running_executions_aborted_and_their_tasks(
    project: Path, tmp_path: Path
) -> None:
    """A foreground server whose schedule fires a long run, `local tick` a second (skipped:
    the job is running), then Ctrl-C."""
    folder = scratch(project, tmp_path)
    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=12)
    job = {"job": "nightly", "stages": [{"name": "sleep", "run": ["bash", "t/sleep.sh"]}]}
    server = subprocess.Popen(
        [
            str(VENV_BIN / "longjob"),
            "local",
            "up",
            "--port",
            "0",
            "--parameter",
            f"ScheduleExpression=at({when:%Y-%m-%dT%H:%M:%S})",
            "--parameter",
            f"ScheduleJobDocument={json.dumps(job)}",
        ],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: task_processes(folder), 90, "the scheduled run's task")
        ticked = longjob("local", "tick", cwd=folder)
        assert ticked.returncode == 0, ticked.stdout + ticked.stderr
        assert ticked.stdout.startswith("started arn:aws:states:us-east-1:123456789012:execution:")
        # The same job is running: the overlap guard skips the tick's run.
        info = ServerInfo.load(folder)
        sfn = info.client("stepfunctions")
        tick_arn = ticked.stdout.split()[1]
        described = wait_for(
            lambda: (
                (d := sfn.describe_execution(executionArn=tick_arn))["status"] != "RUNNING" and d
            ),
            what="the tick's run",
        )
        assert json.loads(described["output"])["status"] == "SKIPPED"
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=90)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, output
    assert "is enabled: it fires here" in output
    assert "started arn:aws:states:us-east-1:123456789012:execution:" in output
    assert "stopped 1 running execution(s): ABORTED" in output
    assert task_processes(folder) == []
    assert not (folder / ".longjob" / "local").exists()


def test_a_mock_configuration_case_starts_as_on_step_functions_local(server) -> None:
    folder, info = server
    started = aws(
        info,
        "stepfunctions",
        "start-execution",
        "--state-machine-arn",
        f"{info.state_machine_arn}#NoTasks",
        "--input",
        f"file://{HELLO}",
        cwd=folder,
    )
    assert "#" not in started["executionArn"]
    described = wait_for(
        lambda: (
            (
                d := aws(
                    info,
                    "stepfunctions",
                    "describe-execution",
                    "--execution-arn",
                    started["executionArn"],
                    cwd=folder,
                )
            )["status"]
            != "RUNNING"
            and d
        ),
        what="the mocked run",
    )
    summary = json.loads(described["output"])
    assert [s["taskId"] for s in summary["stages"]] == ["mocked1", "mocked1"]


def test_a_stale_server_file_never_signals_another_process(tmp_path: Path) -> None:
    """A server killed without cleaning up leaves server.json; its pid may be reused."""
    stale = ServerInfo(
        endpoint="http://127.0.0.1:1",
        access_key_id="AKIASTALE",
        secret_access_key="x",
        region="us-east-1",
        stack_name="longjob-local",
        state_machine_arn="arn:aws:states:us-east-1:123456789012:stateMachine:x",
        pid=os.getpid(),  # alive, but not the process that wrote the file
        started=1.0,
    )
    stale.save(tmp_path)
    result = longjob("local", "down", cwd=tmp_path)
    assert result.returncode == 2
    assert "is gone (process" in result.stderr
    assert not ServerInfo.path(tmp_path).exists()


def test_a_port_in_use_is_a_clear_error(project: Path, tmp_path: Path) -> None:
    import socket

    folder = scratch(project, tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = longjob("local", "up", "--port", str(port), cwd=folder, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert not (folder / ".longjob" / "local").exists()
