"""What a local run exposes on this machine: an endpoint only its own tasks can use, files
only the user can read, and no task left running when the run is stopped or killed."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import psutil
import pytest
from botocore.exceptions import ClientError

from longjob.engine.exceptions import InvalidInput
from longjob.engine.local_engine import LocalEngine
from tests.conftest import VENV_BIN

from .conftest import stage
from .test_run_command import write


def client(engine: LocalEngine, key: str, secret: str = "not-the-secret") -> object:  # noqa: S107
    return boto3.client(
        "s3",
        endpoint_url=engine.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )


def test_the_endpoint_serves_only_the_runs_own_key(engine: LocalEngine) -> None:
    own = engine.credentials
    assert "Buckets" in client(engine, own.access_key_id, own.secret_access_key).list_buckets()
    with pytest.raises(ClientError) as wrong:
        client(engine, "AKIAWRONGWRONGWRONG0").list_buckets()
    assert wrong.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert wrong.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(urllib.error.HTTPError) as unsigned:
        urllib.request.urlopen(engine.endpoint + "/")  # noqa: S310 - the test's own endpoint
    assert unsigned.value.code == 403


def test_the_endpoint_refuses_a_browser_even_with_the_key(engine: LocalEngine) -> None:
    """A web page open while a job runs must not reach the endpoint: no CORS, no answer."""
    own = engine.credentials
    s3 = client(engine, own.access_key_id, own.secret_access_key)
    s3.meta.events.register(
        "before-sign.s3.ListBuckets",
        lambda request, **_: request.headers.__setitem__("Origin", "https://evil.example"),
    )
    with pytest.raises(ClientError) as refused:
        s3.list_buckets()
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    preflight = urllib.request.Request(  # noqa: S310 - the test's own endpoint
        engine.endpoint + "/", method="OPTIONS", headers={"Origin": "https://evil.example"}
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(preflight)  # noqa: S310
    assert answer.value.code == 403
    assert "Access-Control-Allow-Origin" not in answer.value.headers


def test_execution_names_follow_step_functions_rules(engine: LocalEngine, application) -> None:
    for name in ("../../outside", "with space", "x" * 81, "tab\tname"):
        with pytest.raises(InvalidInput, match="execution name"):
            engine.start(application.definition, {}, application.substitutions, name=name)


def test_a_name_the_engine_did_not_check_still_cannot_leave_the_run_folder(
    engine: LocalEngine, application
) -> None:
    machine = engine.create_state_machine(application.definition, application.substitutions)
    document = {"job": "dots", "stages": [stage("a", "exit.sh")]}
    arn = engine.sfn.start_execution(stateMachineArn=machine, name="..", input=json.dumps(document))
    result = engine.wait(arn["executionArn"])
    assert result.status == "SUCCEEDED", result.cause
    root = engine.run_root.resolve()
    for task in result.tasks:
        assert root in Path(task.log_file).resolve().parents
    assert root in Path(result.log_dir).resolve().parents


def test_run_files_are_private(run_job, engine: LocalEngine) -> None:
    result, _summary = run_job({"job": "private", "stages": [stage("a", "exit.sh")]})
    modes = {
        path: path.stat().st_mode & 0o777
        for path in [engine.run_root.parent, engine.run_root, Path(result.log_dir)]
    }
    assert set(modes.values()) == {0o700}, modes
    (task,) = result.tasks
    assert Path(task.log_file).stat().st_mode & 0o777 == 0o600


# --- stopping `longjob run` --------------------------------------------------------------------


def start_run(project: Path, tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    """`longjob run` of a job whose task sleeps; returns the run and the task's pid."""
    pidfile = tmp_path / "pid"
    job = write(
        tmp_path / "job.json",
        {"job": "sleepy", "stages": [stage("nap", "sleep.sh", env={"PIDFILE": str(pidfile)})]},
    )
    run = subprocess.Popen(
        [str(VENV_BIN / "longjob"), "run", job, "--parameter", "StopTimeout=2"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert run.poll() is None, run.stdout.read() if run.stdout else ""
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return run, int(pidfile.read_text())


def gone(pid: int, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_stops_the_run_like_ctrl_c(
    project: Path, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    run, task_pid = start_run(project, tmp_path)
    run.send_signal(sig)
    output, _ = run.communicate(timeout=60)
    assert run.returncode == code, output
    assert output.splitlines()[-1].startswith("execution sleepy-")
    assert output.splitlines()[-1].endswith(": ABORTED")
    assert gone(task_pid)


def test_a_killed_run_takes_its_tasks_with_it(project: Path, tmp_path: Path) -> None:
    run, task_pid = start_run(project, tmp_path)
    run.kill()
    run.wait(timeout=30)
    assert gone(task_pid)
