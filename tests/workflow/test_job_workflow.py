"""statemachine/job.asl.json with the real prepare_job/notify code and real scripts, on the
local engine: the job semantics of docs/design.md §5."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from longjob.engine.local_engine import LocalEngine, RunResult
from longjob.engine.service_hooks import FunctionSpec
from longjob.stack.application import LocalApplication
from tests.conftest import ROOT

from .conftest import job_summary, stage


def statuses(summary: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["name"], s["status"]) for s in summary["stages"]]


def ran(ledger: Path) -> list[str]:
    return ledger.read_text().split() if ledger.exists() else []


def test_hello_example_succeeds_with_a_summary(run_job) -> None:
    document = json.loads((ROOT / "jobs/examples/hello.json").read_text())
    result, summary = run_job(document)
    assert result.status == "SUCCEEDED", result.cause
    assert summary["status"] == "SUCCEEDED"
    assert summary["job"] == "hello"
    assert statuses(summary) == [("hello-bash", "SUCCEEDED"), ("hello-python", "SUCCEEDED")]
    assert [s["exitCode"] for s in summary["stages"]] == [0, 0]
    for task in result.tasks:
        assert "2 parameters passed" in Path(task.log_file).read_text()
    (note,) = result.notifications
    assert note.subject == "[longjob] hello SUCCEEDED"
    assert "hello-python  SUCCEEDED  0" in note.message
    assert summary["notification"] == "sent"


def test_failed_stage_skips_the_rest_but_always_stages_run(run_job, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    env = {"LEDGER": str(ledger)}
    result, summary = run_job(
        {
            "job": "stops",
            "stages": [
                stage("first", "count.sh", env=env),
                stage("breaks", "count.sh", env={**env, "EXIT_CODE": "4"}),
                stage("skipped", "count.sh", env=env),
                stage("report", "count.sh", env=env, always=True),
            ],
        }
    )
    assert result.status == "FAILED"
    assert result.error == "JobFailed"
    assert json.loads(result.cause) == summary  # the Fail state's cause is the summary
    assert statuses(summary) == [
        ("first", "SUCCEEDED"),
        ("breaks", "FAILED"),
        ("skipped", "SKIPPED"),
        ("report", "SUCCEEDED"),
    ]
    assert summary["stages"][1]["exitCode"] == 4
    assert summary["stages"][2]["reason"] == "an earlier stage failed"
    assert ran(ledger) == ["first:", "breaks:", "report:"]
    (note,) = result.notifications
    assert note.subject == "[longjob] stops FAILED: breaks failed (exit 4)"
    assert "breaks: FAILED, exit code 4, 1 attempt(s)" in note.message


def test_on_failure_continue_runs_later_stages_and_the_job_still_fails(
    run_job, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    env = {"LEDGER": str(ledger)}
    result, summary = run_job(
        {
            "job": "continues",
            "stages": [
                stage("optional", "count.sh", env={**env, "EXIT_CODE": "1"}, onFailure="continue"),
                stage("next", "count.sh", env=env),
            ],
        }
    )
    assert result.error == "JobFailed"
    assert statuses(summary) == [("optional", "FAILED"), ("next", "SUCCEEDED")]
    assert ran(ledger) == ["optional:", "next:"]


def test_retries_fail_twice_then_succeed(run_job, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    result, summary = run_job(
        {
            "job": "flaky",
            "stages": [
                stage("flaky", "flaky.sh", env={"COUNTER": str(counter), "PASS_ON": "3"}, retries=2)
            ],
        }
    )
    assert result.status == "SUCCEEDED", result.cause
    assert summary["stages"][0]["attempts"] == 3
    assert [t.exit_code for t in result.tasks] == [3, 3, 0]
    assert [t.attempt for t in result.tasks] == [1, 2, 3]
    assert "LONGJOB_ATTEMPT=3" in Path(result.tasks[-1].log_file).read_text()


def test_retries_run_out(run_job, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    result, summary = run_job(
        {
            "job": "hopeless",
            "stages": [
                stage("flaky", "flaky.sh", env={"COUNTER": str(counter), "PASS_ON": "9"}, retries=1)
            ],
        }
    )
    assert result.error == "JobFailed"
    failure = summary["stages"][0]["failures"][0]
    assert (failure["attempts"], failure["exitCode"]) == (2, 3)


def test_a_listed_exit_code_is_retried_and_a_fail_fast_one_is_not(run_job, tmp_path: Path) -> None:
    """retryOn / failFast (docs/design.md §5): the codes a stage retries and never retries."""
    counter = tmp_path / "count"
    result, summary = run_job(
        {
            "job": "exit-codes",
            "stages": [
                stage(
                    "flaky",
                    "flaky.sh",
                    env={"COUNTER": str(counter), "PASS_ON": "2"},
                    retries=3,
                    retryOn={"exitCodes": [3]},  # flaky.sh exits 3 until it passes
                ),
                stage(
                    "usage-error",
                    "exit.sh",
                    env={"EXIT_CODE": "2"},
                    retries=3,
                    failFast={"exitCodes": [2]},
                    always=True,
                ),
            ],
        }
    )
    assert result.error == "JobFailed"
    flaky, usage = summary["stages"]
    assert (flaky["status"], flaky["attempts"]) == ("SUCCEEDED", 2)
    assert (usage["status"], usage["attempts"], usage["exitCode"]) == ("FAILED", 1, 2)
    assert [t.exit_code for t in result.tasks] == [3, 0, 2]  # the usage error ran once


def test_capacity_errors_are_retried(engine: LocalEngine, run_job, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    engine.inject_ecs_faults("capacity", 1)
    result, summary = run_job(
        {"job": "capacity", "stages": [stage("only", "count.sh", env={"LEDGER": str(ledger)})]}
    )
    assert result.status == "SUCCEEDED", result.cause
    assert summary["stages"][0]["attempts"] == 1  # an infrastructure retry is not an attempt
    assert [e["error"] for e in result.history if e["type"] == "TaskFailed"] == [
        "ECS.AmazonECSException"
    ]
    assert ran(ledger) == ["only:"]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_stage_timeout_stops_the_task(run_job, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    result, summary = run_job(
        {
            "job": "slow-stage",
            "stages": [
                stage("slow", "sleep.sh", env={"PIDFILE": str(pidfile)}, timeoutSeconds=1),
                stage("after", "exit.sh"),
            ],
        }
    )
    assert result.error == "JobFailed"
    assert statuses(summary) == [("slow", "TIMED_OUT"), ("after", "SKIPPED")]
    assert summary["stages"][0]["failures"][0]["reason"].startswith("States.Timeout")
    assert not _alive(int(pidfile.read_text()))


def test_whole_run_timeout(run_job, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    result, summary = run_job(
        {
            "job": "slow-job",
            "timeoutSeconds": 3,
            "stages": [
                stage("slow", "sleep.sh", env={"PIDFILE": str(pidfile)}, retries=3),
                stage("report", "exit.sh", always=True),
            ],
        }
    )
    assert result.error == "JobTimedOut"
    assert summary["status"] == "TIMED_OUT"
    assert statuses(summary) == [("slow", "TIMED_OUT"), ("report", "SKIPPED")]
    assert summary["stages"][1]["reason"] == "the job timed out"
    assert len(result.tasks) == 1  # no retry once the job's time is up
    assert not _alive(int(pidfile.read_text()))
    assert time.monotonic() - started < 20


def test_fan_out_runs_every_item_at_most_max_concurrency_at_once(run_job, tmp_path: Path) -> None:
    items = ["a", "b", "c", "d", "e"]
    result, summary = run_job(
        {
            "job": "fan-out",
            "stages": [
                {
                    "name": "each",
                    "forEach": items,
                    "maxConcurrency": 2,
                    "run": ["bash", "t/span.sh", "{item}"],
                    "env": {"SPANDIR": str(tmp_path), "SLEEP": "0.6"},
                }
            ],
        }
    )
    assert result.status == "SUCCEEDED", result.cause
    assert summary["stages"][0]["tasks"] == 5
    assert summary["stages"][0]["succeeded"] == 5
    spans = [tuple(map(int, (tmp_path / i).read_text().split())) for i in items]
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2
    assert sorted(t.label for t in result.tasks) == [f"each:{i}" for i in items]


def test_second_run_of_a_running_job_is_skipped(
    engine: LocalEngine, application: LocalApplication, run_job, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    ledger = tmp_path / "ledger"
    first = engine.start(
        application.definition,
        {"job": "exclusive", "stages": [stage("long", "sleep.sh", env={"PIDFILE": str(pidfile)})]},
        application.substitutions,
    )
    deadline = time.monotonic() + 30
    while not pidfile.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    try:
        result, summary = run_job(
            {
                "job": "exclusive",
                "notify": "failure",  # a skip still needs a person
                "stages": [stage("x", "count.sh", env={"LEDGER": str(ledger)})],
            }
        )
        assert result.status == "SUCCEEDED"
        assert summary["status"] == "SKIPPED"
        assert first in summary["reason"]
        assert result.tasks == []
        assert not ledger.exists()
        (note,) = result.notifications
        assert note.subject == "[longjob] exclusive SKIPPED"
        assert f"another run of this job is in progress: {first}" in note.message
        # An invalid document with the same job label neither runs nor takes the lock.
        invalid, _ = run_job({"job": "exclusive", "stages": [stage("x", "nope", retries=99)]})
        assert invalid.error == "InvalidJobDocument"
        # Another job may run at the same time.
        _other, other_summary = run_job(
            {"job": "other", "stages": [stage("x", "count.sh", env={"LEDGER": str(ledger)})]}
        )
        assert other_summary["status"] == "SUCCEEDED"
    finally:
        engine.sfn.stop_execution(executionArn=first, cause="test over")
        engine.wait(first)
    # The stopped run never released its lock (no state runs after StopExecution): the
    # next run takes it over instead of being skipped forever.
    _after, after_summary = run_job(
        {"job": "exclusive", "stages": [stage("x", "count.sh", env={"LEDGER": str(ledger)})]}
    )
    assert after_summary["status"] == "SUCCEEDED"


def test_two_runs_started_together_give_exactly_one_run(
    engine: LocalEngine, application: LocalApplication, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    document = {
        "job": "together",
        "stages": [stage("x", "count.sh", env={"LEDGER": str(ledger)})],
    }
    arns = [
        engine.start(application.definition, document, application.substitutions) for _ in range(2)
    ]
    statuses_seen = sorted(job_summary(engine.wait(arn))["status"] for arn in arns)
    assert statuses_seen == ["SKIPPED", "SUCCEEDED"]
    assert ran(ledger) == ["x:"]
    # The lock was released at the end: the next run goes ahead.
    third = job_summary(engine.run(application.definition, document, application.substitutions))
    assert third["status"] == "SUCCEEDED"


def test_secret_reference_reaches_the_script_and_nothing_else(engine: LocalEngine, run_job) -> None:
    value = "pa55-Word-only-the-script-sees"
    engine.aws_client("ssm").put_parameter(
        Name="/longjob/test/db-password", Value=value, Type="SecureString", Overwrite=True
    )
    result, summary = run_job(
        {
            "job": "secretive",
            "stages": [
                stage(
                    "check",
                    "check_secret.sh",
                    env={
                        "DB_PASSWORD": "ssm:/longjob/test/db-password",
                        "EXPECTED_SHA256": hashlib.sha256(value.encode()).hexdigest(),
                    },
                )
            ],
        }
    )
    assert result.status == "SUCCEEDED", result.cause
    log = Path(result.tasks[0].log_file).read_text()
    assert "secret: match" in log
    # The reference travels (input, task parameters, .sync output); the value never does.
    raw_history = engine.sfn.get_execution_history(
        executionArn=result.execution_arn, maxResults=1000
    )["events"]
    assert "ssm:/longjob/test/db-password" in json.dumps(raw_history, default=str)
    everything = json.dumps(
        [raw_history, result.output, summary, [vars(n) for n in result.notifications]],
        default=str,
    )
    assert value not in everything
    assert value not in log


INVALID = [
    (
        {"job": "x", "stages": [{"name": "a", "run": ["bash", "t/exit.sh"], "retires": 2}]},
        "/stages/0/retires: unknown field",
    ),
    (
        {"job": "x", "stages": [{"name": "a", "run": ["perl", "t/exit.sh"]}]},
        "/stages/0/run/0: must be one of",
    ),
    (
        {"job": "x", "stages": [{"name": "a", "run": ["bash", "../etc/passwd"]}]},
        "/stages/0/run/1: must be a relative path inside the scripts folder",
    ),
    (
        {
            "job": "x",
            "stages": [
                {"name": "a", "run": ["bash", "t/exit.sh"], "env": {"DB_PASSWORD": "hunter2"}}
            ],
        },
        "/stages/0/env/DB_PASSWORD: looks like a secret",
    ),
    ({"job": "x", "stages": []}, "/stages: must have at least 1 item(s)"),
    (["not", "a", "job"], "/: must be an object"),
]


@pytest.mark.parametrize(("document", "message"), INVALID)
def test_invalid_documents_fail_before_any_task(run_job, document: Any, message: str) -> None:
    result, _ = run_job(document)
    assert result.status == "FAILED"
    assert result.error == "InvalidJobDocument"
    assert message in result.cause
    assert result.tasks == []
    assert not any(e["type"] == "MapStateEntered" for e in result.history)
    (note,) = result.notifications
    assert "INVALID" in note.subject


def test_notification_failure_leaves_the_result_unchanged(
    engine: LocalEngine, application: LocalApplication, run_job
) -> None:
    notify_arn = application.substitutions["NotifyFunctionArn"]
    key = notify_arn.rsplit(":", 1)[-1]
    original = engine.hooks.functions[key]
    engine.hooks.functions[key] = FunctionSpec("tests.workflow.handlers:crash")
    try:
        result, summary = run_job({"job": "quiet", "stages": [stage("ok", "exit.sh")]})
    finally:
        engine.hooks.functions[key] = original
    assert result.status == "SUCCEEDED"
    assert summary["status"] == "SUCCEEDED"
    assert summary["notification"] == "failed: KeyError"
    assert result.notifications == []


def billed_transitions(result: RunResult) -> int:
    """Step Functions bills each state entered, and each retry of a state."""
    entered = sum(1 for e in result.history if e["type"].endswith("StateEntered"))
    retries = sum(1 for e in result.history if e["type"] == "TaskScheduled") - sum(
        1 for e in result.history if e["type"] == "TaskStateEntered"
    )
    return entered + retries


def test_transition_budget_of_a_ten_stage_job(run_job) -> None:
    stages = [stage(f"s{i}", "exit.sh") for i in range(10)]
    result, _summary = run_job({"job": "ten", "stages": stages})
    assert result.status == "SUCCEEDED", result.cause
    one, _ = run_job({"job": "one", "stages": stages[:1]})
    per_stage = (billed_transitions(result) - billed_transitions(one)) / 9
    fixed = billed_transitions(one) - per_stage
    total = billed_transitions(result)
    print(f"\ntransitions: 10 stages {total}, per stage {per_stage}, fixed {fixed}")
    assert per_stage <= 4
    assert fixed <= 10


def test_db_maintenance_example_runs_for_real(engine: LocalEngine, run_job) -> None:
    document = json.loads((ROOT / "jobs/examples/db-maintenance.json").read_text())
    result, summary = run_job(document)
    assert result.status == "SUCCEEDED", result.cause
    assert statuses(summary) == [
        ("backup", "SUCCEEDED"),
        ("restore-check", "SUCCEEDED"),
        ("prune", "SUCCEEDED"),
        ("report", "SUCCEEDED"),
    ]
    s3 = engine.aws_client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="longjob-example-backups")["Contents"]]
    assert any(k.startswith("postgres/test/test-") and k.endswith(".dump") for k in keys)
    logs = {t.label: Path(t.log_file).read_text() for t in result.tasks}
    assert "restores cleanly" in logs["restore-check"]
    assert "backups under s3://longjob-example-backups/postgres/" in logs["report"]


def test_concurrent_runs_do_not_mix_their_tasks(engine, application, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    documents = [
        {"job": f"parallel-{n}", "stages": [stage("x", "count.sh", env={"LEDGER": str(ledger)})]}
        for n in range(2)
    ]
    results: list[RunResult] = []
    threads = [
        threading.Thread(
            target=lambda d=d: results.append(
                engine.run(application.definition, d, application.substitutions)
            )
        )
        for d in documents
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(len(r.tasks) for r in results) == [1, 1]
    assert all(r.status == "SUCCEEDED" for r in results)


def test_a_timed_out_attempt_never_overlaps_its_retry(
    engine: LocalEngine, run_job, tmp_path: Path
) -> None:
    """The task stops itself at its deadline (LONGJOB_DEADLINE, before the state's timeout):
    even if nobody stopped a timed-out task (the engine's stop-on-timeout is off here, as
    AWS does not document it), the retry starts only after the first attempt is gone."""
    spans = tmp_path / "spans"
    engine.runtime.stop_abandoned_tasks = False
    try:
        result, summary = run_job(
            {
                "job": "overrun",
                "stages": [
                    stage(
                        "slow", "overrun.sh", env={"SPANS": str(spans)}, timeoutSeconds=8, retries=1
                    )
                ],
            }
        )
    finally:
        engine.runtime.stop_abandoned_tasks = True
    lines = [line.split() for line in spans.read_text().splitlines()]
    assert [kind for kind, *_ in lines] == ["start", "term", "start", "term"], lines
    first_pid = int(lines[0][3])
    assert not _alive(first_pid)
    assert result.error == "JobFailed"
    (slow,) = summary["stages"]
    assert (slow["status"], slow["exitCode"], slow["attempts"]) == ("TIMED_OUT", 124, 2)
    (failure,) = slow["failures"]
    assert failure["reason"] == "stopped at its deadline"
    assert [e["error"] for e in result.history if e["type"] == "TaskFailed"] == [
        "States.TaskFailed"
    ] * 2
    assert "TaskTimedOut" not in [e["type"] for e in result.history]
    # The deadline came 2 s (a quarter of 8) before the state's timeout, the kill 1 s later.
    assert [t.exit_code for t in result.tasks] == [124, 124]
    (note,) = result.notifications
    assert "slow: TIMED_OUT, exit code 124, 2 attempt(s)" in note.message
    assert "stopped at its deadline" in note.message
