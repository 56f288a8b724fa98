"""AWS mock configuration files on the local engine: `longjob test`, `run --mock-config`
and the Python API, with the behaviour Step Functions documents for them."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from longjob.mocking import run_test_case
from tests.conftest import ROOT

from .conftest import FIXTURES
from .test_run_command import longjob, write

MOCKING = FIXTURES / "mocking"
MOCK_FILE = MOCKING / "LambdaSQSIntegration.mock.json"
DEFINITION = MOCKING / "LambdaSQSIntegration.asl.json"
DOUBLE = "double=tests/workflow/handlers.py:double"


def test_the_walkthrough_cases_meet_their_expectations_with_a_junit_report(
    tmp_path: Path,
) -> None:
    junit = tmp_path / "junit.xml"
    result = longjob("test", "--function", DOUBLE, "--junit", str(junit), str(MOCK_FILE), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "  PASS  LambdaSQSIntegration/RetryPath        SUCCEEDED" in result.stdout
    assert "LambdaState → EcsState → EachItem → ItemState x3 → AskHuman" in result.stdout
    assert "3 cases: 3 passed, 0 failed" in result.stdout
    (suite,) = ET.parse(junit).getroot()  # noqa: S314 - the file this test just wrote
    assert (suite.get("tests"), suite.get("failures")) == ("3", "0")
    assert [case.get("name") for case in suite] == ["RetryPath", "HybridPath", "TooFewResponses"]


def test_responses_follow_the_invocation_numbers_retries_included() -> None:
    result = run_test_case(
        MOCK_FILE,
        "RetryPath",
        DEFINITION,
        execution_input={"value": 4, "items": ["a", "b", "c"]},
        project=ROOT,
    )
    assert result.status == "SUCCEEDED", result.cause
    failures = [e["error"] for e in result.history if e["type"] == "TaskFailed"]
    # "0" then "1-2" thrown: the Retry (MaxAttempts 3) takes all three; "3" returns.
    assert failures == [
        "Lambda.ResourceNotReadyException",
        "Lambda.TimeoutException",
        "Lambda.TimeoutException",
        "States.TaskFailed",  # the ECS .sync task's mocked failure, caught by its Catch
    ]
    assert result.output["lambda"]["payload"]["body"] == "Hello from Lambda!"
    assert result.output["taskFailure"]["Error"] == "States.TaskFailed"
    # The Map's iterations share the state's invocations: "0-1", then "2".
    seen = [item["seen"] for item in result.output["items"]]
    assert seen == ["first two", "first two", "third"]
    assert result.output["answer"] == {"approved": True}  # .waitForTaskToken: no callback
    assert result.tasks == []


def test_a_state_the_case_does_not_mock_runs_for_real() -> None:
    result = run_test_case(
        MOCK_FILE,
        "HybridPath",
        DEFINITION,
        execution_input={"value": 21, "items": []},
        project=ROOT,
        functions={"double": "tests.workflow.handlers:double"},
    )
    assert result.status == "SUCCEEDED", result.cause
    assert result.output["lambda"]["payload"] == {"doubled": 42, "function": "double"}


def test_an_invocation_without_a_response_fails_the_execution_naming_it() -> None:
    result = run_test_case(
        MOCK_FILE,
        "TooFewResponses",
        DEFINITION,
        execution_input={"value": 1, "items": ["a", "b"]},
        project=ROOT,
    )
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert "no mocked response for invocation 1 of state 'ItemState' (it has 1: 0-0)" in (
        result.cause or ""
    )


def test_a_missed_expectation_exits_1_with_what_differs(tmp_path: Path) -> None:
    for path in MOCKING.glob("LambdaSQSIntegration.*"):
        shutil.copy(path, tmp_path / path.name)
    expect = tmp_path / "LambdaSQSIntegration.expect.json"
    document = json.loads(expect.read_text())
    case = document["StateMachines"]["LambdaSQSIntegration"]["TestCases"]["RetryPath"]
    case["output"]["answer"] = {"approved": False}
    case["states"] = case["states"][:-1]
    expect.write_text(json.dumps(document))
    result = longjob(
        "test", "--case", "RetryPath", str(tmp_path / "LambdaSQSIntegration.mock.json"), cwd=ROOT
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "  FAIL  LambdaSQSIntegration/RetryPath  SUCCEEDED" in result.stdout
    assert "output /answer/approved: expected false, got true" in result.stdout
    assert "+AskHuman" in result.stdout
    assert "1 cases: 0 passed, 1 failed" in result.stdout


def test_invalid_files_exit_2_with_one_line_each_and_nothing_run(tmp_path: Path) -> None:
    mock = json.loads(MOCK_FILE.read_text())
    cases = mock["StateMachines"]["LambdaSQSIntegration"]["TestCases"]
    cases["RetryPath"]["LambdaStat"] = cases["RetryPath"].pop("LambdaState")
    mock["MockedResponses"]["MockedItems"]["1"] = {"Return": {}}
    bad = write(tmp_path / "bad.mock.json", mock)
    result = longjob("test", "--state-machine", f"LambdaSQSIntegration={DEFINITION}", bad, cwd=ROOT)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{bad}: /MockedResponses/MockedItems/1: overlaps an earlier range "
        "(invocation 1 has two responses)"
    ]
    del mock["MockedResponses"]["MockedItems"]["1"]
    write(tmp_path / "bad.mock.json", mock)
    result = longjob("test", "--state-machine", f"LambdaSQSIntegration={DEFINITION}", bad, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{bad}: /StateMachines/LambdaSQSIntegration/TestCases/RetryPath/LambdaStat: "
        f"{DEFINITION} has no state 'LambdaStat'"
    ]
    assert "Traceback" not in result.stderr


def test_run_definition_runs_one_case(tmp_path: Path) -> None:
    execution_input = write(tmp_path / "in.json", {"value": 4, "items": ["a"]})
    common = ["run", "--definition", str(DEFINITION), "--input", execution_input]
    result = longjob(*common, "--mock-config", str(MOCK_FILE), "--test-case", "RetryPath", cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"answer": {"approved": true}' in result.stdout
    result = longjob(*common, "--mock-config", str(MOCK_FILE), "--test-case", "Nope", cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"{MOCK_FILE}: no test case 'Nope' for state machine 'LambdaSQSIntegration'"
    )
    result = longjob(*common, "--test-case", "RetryPath", cwd=ROOT)
    assert result.returncode == 2
    assert "--mock-config and --test-case go together" in result.stderr


def test_run_job_mocks_the_tasks_and_runs_the_rest(project: Path, tmp_path: Path) -> None:
    task = {
        "TaskArn": "arn:aws:ecs:us-east-1:123456789012:task/longjob-local-Cluster/mocked1",
        "LastStatus": "STOPPED",
        "StartedAt": 1764547200000,
        "StoppedAt": 1764547230000,
        "Containers": [{"Name": "toolbox", "ExitCode": 0}],
    }
    mock = write(
        tmp_path / "job.mock.json",
        {
            "StateMachines": {"job": {"TestCases": {"NoTasks": {"Run task": "TaskOk"}}}},
            "MockedResponses": {"TaskOk": {"0-1": {"Return": task}}},
        },
    )
    result = longjob(
        "run",
        str(ROOT / "jobs/examples/hello.json"),
        "--mock-config",
        mock,
        "--test-case",
        "NoTasks",
        "--json",
        cwd=project,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert [(s["name"], s["status"], s["taskId"]) for s in summary["stages"]] == [
        ("hello-bash", "SUCCEEDED", "mocked1"),
        ("hello-python", "SUCCEEDED", "mocked1"),
    ]
    assert summary["notification"] == "sent"  # Notify was not mocked: it ran, and sent


def test_states_inside_parallel_branches_are_mocked_by_name(tmp_path: Path) -> None:
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": f"Call{n}",
                        "States": {
                            f"Call{n}": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::lambda:invoke",
                                "Parameters": {"FunctionName": "nowhere"},
                                "OutputPath": "$.Payload",
                                "End": True,
                            }
                        },
                    }
                    for n in (1, 2)
                ],
                "End": True,
            }
        },
    }
    mock = {
        "StateMachines": {"pair": {"TestCases": {"Both": {"Call1": "One", "Call2": "Two"}}}},
        "MockedResponses": {
            "One": {"0": {"Return": {"StatusCode": 200, "Payload": 1}}},
            "Two": {"0": {"Return": {"StatusCode": 200, "Payload": 2}}},
        },
    }
    result = run_test_case(
        write(tmp_path / "pair.mock.json", mock),
        "Both",
        write(tmp_path / "pair.asl.json", definition),
        project=ROOT,
    )
    assert (result.status, result.output) == ("SUCCEEDED", [1, 2])
    assert sorted(result.states) == ["Both", "Call1", "Call2"]


PASS_DEFINITION = {
    "StartAt": "Call",
    "States": {
        "Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "nowhere"},
            "OutputPath": "$.Payload",
            "Next": "Pause",
        },
        "Pause": {"Type": "Wait", "SecondsPath": "$.wait", "End": True},
    },
}


def suite_files(tmp_path: Path, name: str, wait: int, case: str = "Happy Path: 1") -> str:
    """A mock file whose one case returns {"wait": wait}, with its definition beside it."""
    write(tmp_path / "sm.asl.json", PASS_DEFINITION)
    mock = {
        "StateMachines": {"sm": {"TestCases": {case: {"Call": "R"}}}},
        "MockedResponses": {"R": {"0": {"Return": {"StatusCode": 200, "Payload": {"wait": wait}}}}},
    }
    write(
        tmp_path / f"{name}.expect.json",
        {
            "StateMachines": {
                "sm": {
                    "definition": "sm.asl.json",
                    "TestCases": {case: {"output": {"wait": wait}}},
                }
            }
        },
    )
    return write(tmp_path / f"{name}.mock.json", mock)


def test_two_files_with_the_same_case_name_each_run_their_own(tmp_path: Path) -> None:
    first = suite_files(tmp_path, "a", 0)
    second = suite_files(tmp_path, "b", 1)
    result = longjob("test", first, second, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASS  sm/Happy Path: 1") == 2  # any case name is allowed


def test_two_files_with_the_same_case_cannot_both_serve_a_stack(engine, tmp_path: Path) -> None:
    from longjob.mocking import MockConfigError, load_mock_config

    first = load_mock_config(suite_files(tmp_path, "a", 0))
    second = load_mock_config(suite_files(tmp_path, "b", 1))
    engine.register_mock_config(first, "sm")
    with pytest.raises(MockConfigError, match="test case 'Happy Path: 1' of state machine 'sm'"):
        engine.register_mock_config(second, "sm")


def test_an_unknown_case_a_hung_case_and_a_case_without_expectations(tmp_path: Path) -> None:
    mock = suite_files(tmp_path, "a", 30)
    result = longjob("test", "--case", "Typo", mock, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip() == f"longjob: --case Typo: no such test case in {mock}"

    result = longjob("test", "--timeout", "1", mock, cwd=ROOT)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "did not end within 1 s: stopped" in result.stdout

    (tmp_path / "a.expect.json").write_text(
        json.dumps({"StateMachines": {"sm": {"definition": "sm.asl.json"}}})
    )
    write(tmp_path / "sm.asl.json", {**PASS_DEFINITION, "States": {"Call": {"Type": "Fail"}}})
    result = longjob("test", mock, cwd=ROOT)
    assert result.returncode == 2  # "Call" is no longer a Task state
    write(
        tmp_path / "sm.asl.json",
        {
            "StartAt": "Call",
            "States": {
                "Call": {**PASS_DEFINITION["States"]["Call"], "Next": "Boom"},
                "Boom": {"Type": "Fail", "Error": "Boom"},
            },
        },
    )
    result = longjob("test", mock, cwd=ROOT)
    assert result.returncode == 1  # no expectations: it was expected to succeed
    assert "status: expected SUCCEEDED, got FAILED" in result.stdout
