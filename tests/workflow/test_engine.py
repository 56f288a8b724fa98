"""The local engine runs real ASL with real tasks and reproduces AWS's ECS/Lambda shapes."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import psutil
import pytest

from longjob.engine.local_engine import LocalEngine
from longjob.engine.task_definition import TaskDefinition

from .conftest import FIXTURES, SUBSTITUTIONS


def types(result) -> list[str]:
    return [event["type"] for event in result.history]


def failures(result) -> list[str]:
    return [e["error"] for e in result.history if e["type"] == "TaskFailed"]


def test_sync_output_is_the_task_description_in_pascal_case(run) -> None:
    result = run("one_task", {"exitCode": "0"})
    assert result.status == "SUCCEEDED", result.cause
    task = result.output
    assert task["LastStatus"] == "STOPPED"
    assert task["StopCode"] == "EssentialContainerExited"
    assert task["StoppedReason"] == "Essential container in task exited"
    assert task["Containers"][0]["ExitCode"] == 0  # a number, not a list
    assert task["TaskArn"].startswith("arn:aws:ecs:us-east-1:123456789012:task/longjob-local/")
    assert task["ClusterArn"].endswith(":cluster/longjob-local")
    assert task["TaskDefinitionArn"].endswith(":task-definition/longjob-toolbox:1")
    assert task["Group"] == result.execution_name
    assert task["StartedBy"] == "AWS Step Functions"
    assert isinstance(task["StartedAt"], int)
    assert task["StoppedAt"] >= task["StartedAt"]
    override = task["Overrides"]["ContainerOverrides"][0]
    assert override["Command"] == ["bash", "t/exit.sh", "--", "a b", "c"]
    assert override["Environment"] == [{"Name": "EXIT_CODE", "Value": "0"}]
    assert "TaskSubmitted" in types(result)
    assert "TaskSucceeded" in types(result)
    # The task really ran: its output is in its log file, verbatim arguments and all.
    (summary,) = result.tasks
    assert "args: a b c" in Path(summary.log_file).read_text()
    assert Path(summary.log_file).parent == Path(result.log_dir)


def test_non_zero_exit_fails_the_state_with_the_task_as_cause(run) -> None:
    result = run("one_task", {"exitCode": "3"})
    assert result.status == "FAILED"
    assert result.error == "States.TaskFailed"
    cause = json.loads(result.cause)
    assert cause["Containers"][0]["ExitCode"] == 3
    assert cause["StopCode"] == "EssentialContainerExited"
    assert failures(result) == ["States.TaskFailed"]


def test_retry_then_catch_on_task_failed(run, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    result = run("retry_catch", {"counter": str(counter), "passOn": "3"})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["result"]["exitCode"] == 0
    assert [t.attempt for t in result.tasks] == [1, 2, 3]
    assert [t.exit_code for t in result.tasks] == [3, 3, 0]
    assert "LONGJOB_ATTEMPT=3" in Path(result.tasks[2].log_file).read_text()

    counter.unlink()
    result = run("retry_catch", {"counter": str(counter), "passOn": "10"})
    assert result.status == "SUCCEEDED"
    # Caught after three attempts; the Catch parsed the task description out of Cause.
    assert result.output == {
        "exitCode": 3,
        "stopCode": "EssentialContainerExited",
        "error": "States.TaskFailed",
    }
    assert len(result.tasks) == 3


def test_capacity_and_throttling_errors_are_retried(engine: LocalEngine, run) -> None:
    engine.inject_ecs_faults("capacity", 1)
    engine.inject_ecs_faults("throttling", 1)
    result = run("infra_retry", {})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"exitCode": 0}
    assert failures(result) == ["ECS.AmazonECSException", "ECS.AmazonECSException"]
    assert len(result.tasks) == 1  # the failed calls started nothing
    causes = [e["cause"] for e in result.history if e["type"] == "TaskFailed"]
    assert "Error Code: ServerException" in causes[0]
    assert "Error Code: ThrottlingException" in causes[1]


def test_run_task_failures_are_amazon_ecs_unknown(engine: LocalEngine, run) -> None:
    engine.inject_ecs_faults("failures", 1)
    result = run("infra_retry", {})
    assert result.status == "SUCCEEDED"
    assert result.output["error"] == "AmazonECS.Unknown"
    assert result.output["response"]["Failures"][0]["Reason"] == "RESOURCE:CPU"
    assert result.tasks == []


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("ignore_term", ["0", "1"])
def test_timeout_stops_the_task_process(run, tmp_path: Path, ignore_term: str) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    result = run("timeout", {"pidfile": str(pidfile), "ignoreTerm": ignore_term})
    assert result.status == "FAILED"
    assert result.error == "States.Timeout"
    assert "TaskTimedOut" in types(result)
    pid = int(pidfile.read_text())
    assert not _alive(pid)
    (task,) = result.tasks
    assert task.stop_code == "UserInitiated"
    # SIGTERM ends the script at once; one that ignores it is killed after stop_timeout (2 s).
    expected = 137 if ignore_term == "1" else 143
    assert task.exit_code == expected
    assert time.monotonic() - started < 15


def test_map_runs_tasks_concurrently_up_to_max_concurrency(run, tmp_path: Path) -> None:
    items = ["a", "b", "c", "d", "e"]
    result = run("fan_out", {"items": items, "spandir": str(tmp_path)})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == [{"exitCode": 0}] * 5
    spans = [tuple(map(int, (tmp_path / i).read_text().split())) for i in items]
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running, peak = 0, 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2
    assert sorted(t.label for t in result.tasks) == [f"span:{i}" for i in items]


def test_lambda_invocations(run) -> None:
    result = run("lambda", {"value": 21})
    assert result.status == "SUCCEEDED", result.cause
    output = result.output
    assert output["double"] == {"payload": {"doubled": 42, "function": "double"}, "status": 200}
    assert output["direct"] == {"doubled": 84, "function": "double"}
    # Handled: the function raised a named error; the Catch matched it by name.
    assert output["refused"]["Error"] == "InvalidJobDocument"
    assert json.loads(output["refused"]["Cause"])["errorMessage"].startswith("/stages/0/run/1")
    # Unhandled: a bug in the function surfaces as its exception type, like on AWS.
    assert output["crashed"]["Error"] == "KeyError"
    assert json.loads(output["crashed"]["Cause"])["errorType"] == "KeyError"
    assert output["missing"]["Error"] == "Lambda.ResourceNotFoundException"


def test_sns_messages_are_captured(engine: LocalEngine, run) -> None:
    before = len(engine.hooks.notifications)
    result = run("sns", {"job": "nightly"})
    assert result.status == "SUCCEEDED"
    assert "MessageId" in result.output
    (note,) = result.notifications[before:]
    assert note.topic_arn == SUBSTITUTIONS["TopicArn"]
    assert note.subject == "Job nightly finished"
    assert json.loads(note.message) == {"job": "nightly"}


def test_loop_driven_by_variables(run) -> None:
    result = run("variables_loop", {"stages": ["backup", "vacuum", "report"], "limit": 3})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == {"steps": 3, "last": "report"}


@pytest.mark.parametrize(
    ("numbers", "expected"),
    [
        ([5, 6, 7], {"numbers": [5, 6, 7], "total": 18, "size": "big"}),
        ([1], {"total": 1, "size": "small"}),
    ],
)
def test_jsonata_machine(run, numbers: list[int], expected: dict) -> None:
    result = run("jsonata", {"numbers": numbers})
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == expected


def test_script_s3_calls_reach_the_embedded_endpoint(engine: LocalEngine, run) -> None:
    result = run("s3_from_task", {"bucket": "longjob-local-test"})
    assert result.status == "SUCCEEDED", result.cause
    assert engine.endpoint in Path(result.tasks[0].log_file).read_text()
    body = engine.aws_client("s3").get_object(Bucket="longjob-local-test", Key="hello.txt")
    assert body["Body"].read() == b"from the task"


def test_plain_run_task_returns_the_run_task_response(run) -> None:
    result = run("plain_run_task", {})
    assert result.status == "SUCCEEDED"
    assert set(result.output) == {"Tasks", "Failures"}
    assert result.output["Tasks"][0]["LastStatus"] in {"RUNNING", "STOPPED"}


def test_stopping_the_execution_stops_its_tasks(engine: LocalEngine, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    definition = json.loads((FIXTURES / "timeout.asl.json").read_text())
    del definition["States"]["Slow"]["TimeoutSeconds"]
    outcome = {}

    def stop_when_started(arn: str) -> None:
        def stopper() -> None:
            while not pidfile.exists():
                time.sleep(0.02)
            engine.sfn.stop_execution(executionArn=arn, cause="operator")

        threading.Thread(target=stopper, daemon=True).start()

    outcome["result"] = engine.run(
        json.dumps(definition),
        {"pidfile": str(pidfile), "ignoreTerm": "0"},
        SUBSTITUTIONS,
        on_started=stop_when_started,
    )
    assert outcome["result"].status == "ABORTED"
    time.sleep(0.5)
    assert not _alive(int(pidfile.read_text()))
    (task,) = outcome["result"].tasks
    assert task.stop_code == "UserInitiated"
    # Nothing of this task lives on: no process carries its marker any more.
    assert not any(
        _safe_environ(p) and p.environ().get("LONGJOB_LOCAL_TASK_ID") == task.task_arn
        for p in psutil.process_iter()
        if p.pid != os.getpid()
    )


def _safe_environ(process: psutil.Process) -> bool:
    try:
        process.environ()
    except psutil.Error:
        return False
    return True


# The keys of a stopped Fargate task's .sync output as AWS returned it (LocalStack's snapshot
# recorded against AWS: test_ecs_task_service.snapshot.json, docs/aws-facts.md).
AWS_TASK_KEYS = {
    "Attachments", "Attributes", "AvailabilityZone", "ClusterArn", "Connectivity",
    "ConnectivityAt", "Containers", "Cpu", "CreatedAt", "DesiredStatus", "EnableExecuteCommand",
    "EphemeralStorage", "ExecutionStoppedAt", "Group", "InferenceAccelerators", "LastStatus",
    "LaunchType", "Memory", "Overrides", "PlatformVersion", "PullStartedAt", "PullStoppedAt",
    "StartedAt", "StartedBy", "StopCode", "StoppedAt", "StoppedReason", "StoppingAt", "Tags",
    "TaskArn", "TaskDefinitionArn", "Version",
}  # fmt: skip
AWS_CONTAINER_KEYS = {
    "ContainerArn", "Cpu", "ExitCode", "GpuIds", "Image", "ImageDigest", "LastStatus",
    "ManagedAgents", "Name", "NetworkBindings", "NetworkInterfaces", "RuntimeId", "TaskArn",
}  # fmt: skip


def test_sync_output_has_the_fields_aws_returns_from_the_task_definition(
    run, engine: LocalEngine
) -> None:
    definition = TaskDefinition.from_properties(
        {
            "Family": "longjob-toolbox",
            "Cpu": "1024",
            "Memory": "4096",
            "EphemeralStorage": {"SizeInGiB": 40},
            "RuntimePlatform": {"CpuArchitecture": "ARM64"},
            "ContainerDefinitions": [
                {"Name": "toolbox", "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/t:1"}
            ],
        },
        arn=None,
    )
    engine.runtime.task_definition = definition
    try:
        result = run("one_task", {"exitCode": "0"})
    finally:
        engine.runtime.task_definition = None
    task = result.output
    assert set(task) == AWS_TASK_KEYS
    assert set(task["Containers"][0]) == AWS_CONTAINER_KEYS
    assert task["Cpu"] == "1024"
    assert task["Memory"] == "4096"
    assert task["EphemeralStorage"] == {"SizeInGiB": 40}
    assert task["Attributes"] == [{"Name": "ecs.cpu-architecture", "Value": "arm64"}]
    assert task["Containers"][0]["Image"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/t:1"
    assert task["Version"] == 5


def test_history_comes_in_pages_newest_first_when_asked(engine: LocalEngine, run) -> None:
    """GetExecutionHistory as AWS answers it: maxResults, nextToken, reverseOrder (what
    `run`/`watch` read their new events with)."""
    result = run("one_task", {"exitCode": "0"})
    sfn = engine.aws_client("stepfunctions")
    ids = [e["id"] for e in result.history]
    first = sfn.get_execution_history(
        executionArn=result.execution_arn, reverseOrder=True, maxResults=3
    )
    assert [e["id"] for e in first["events"]] == ids[::-1][:3]
    second = sfn.get_execution_history(
        executionArn=result.execution_arn,
        reverseOrder=True,
        maxResults=3,
        nextToken=first["nextToken"],
    )
    assert [e["id"] for e in second["events"]] == ids[::-1][3:6]
    whole = sfn.get_execution_history(executionArn=result.execution_arn, maxResults=1000)
    assert [e["id"] for e in whole["events"]] == ids
    assert "nextToken" not in whole


def test_jsonata_reads_a_variable_that_holds_null_as_null(engine: LocalEngine) -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Set",
        "States": {
            "Set": {
                "Type": "Pass",
                "Assign": {"nothing": None, "some": {"a": None}},
                "Next": "Read",
            },
            "Read": {
                "Type": "Pass",
                "Output": "{% [$nothing, $some.a, $nothing = null, $exists($some.a)] %}",
                "End": True,
            },
        },
    }
    result = engine.run(json.dumps(definition), {}, SUBSTITUTIONS)
    assert result.status == "SUCCEEDED", result.cause
    assert result.output == [None, None, True, True]


def test_millis_is_the_time_of_each_evaluation(engine: LocalEngine) -> None:
    """$millis() is read when each expression is evaluated, also when the same expression
    (compiled once) is evaluated again later: the stage loop's deadline check relies on it."""
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Start",
        "States": {
            "Start": {"Type": "Pass", "Assign": {"times": []}, "Next": "Tick"},
            "Tick": {
                "Type": "Pass",
                "Assign": {"times": "{% $append($times, [$millis()]) %}"},
                "Next": "Enough?",
            },
            "Enough?": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $count($times) >= 3 %}", "Next": "Done"}],
                "Default": "Wait",
            },
            "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Tick"},
            "Done": {"Type": "Pass", "Output": "{% $times %}", "End": True},
        },
    }
    result = engine.run(json.dumps(definition), {}, SUBSTITUTIONS)
    assert result.status == "SUCCEEDED", result.cause
    first, second, third = result.output
    assert 1000 <= second - first < 5000
    assert 1000 <= third - second < 5000


def chain(count: int, state: dict) -> dict:
    """A definition of ``count`` copies of ``state``, one after the other."""
    states = {f"S{i}": {**state, "Next": f"S{i + 1}"} for i in range(count - 1)}
    states[f"S{count - 1}"] = {**state, "End": True}
    return {"StartAt": "S0", "States": states}


def test_executions_of_jsonpath_and_jsonata_machines_start_together(engine: LocalEngine) -> None:
    """Each execution parses its definition on its own thread: the parses must not share
    their query-language scopes (moto's parser kept them in a class attribute, and a
    JSONPath definition parsed beside a JSONata one was refused)."""
    jsonpath = chain(150, {"Type": "Pass", "Parameters": {"v.$": "$.v"}})
    jsonata = {
        "QueryLanguage": "JSONata",
        **chain(150, {"Type": "Pass", "Output": "{% {'v': $states.input.v} %}"}),
    }
    arns = [
        engine.start(json.dumps(definition), {"v": n}, SUBSTITUTIONS)
        for n in range(6)
        for definition in (jsonpath, jsonata)
    ]
    results = [engine.wait(arn) for arn in arns]
    assert [r.status for r in results] == ["SUCCEEDED"] * 12, [r.cause for r in results]
    assert [r.output for r in results[:2]] == [{"v": 0}, {"v": 0}]


def test_an_interpreter_failure_ends_the_execution_failed(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    def broken(self: ExecutionWorker) -> None:
        raise ValueError("parser state corrupted")

    monkeypatch.setattr(ExecutionWorker, "_get_evaluation_entrypoint", broken)
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    result = engine.run(json.dumps(definition), {}, SUBSTITUTIONS)
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert result.cause == "the local engine failed: ValueError: parser state corrupted"
