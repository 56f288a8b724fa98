"""The project's own state machine, tested with AWS's mock configuration format.

tests/statemachine/job.mock.json mocks every Task state of statemachine/job.asl.json (the plan,
the ECS tasks, the lock, the notification); job.expect.json holds each case's input and what
it must end with. No task process starts. A new state needs a case that enters it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from longjob.mocking.runner import CaseResult, MockRunner, state_types
from longjob.mocking.suite import load_suite, mismatches
from tests.conftest import ROOT, VENV_BIN

HERE = Path(__file__).parent
MOCK_FILE = HERE / "job.mock.json"


@pytest.fixture(scope="module")
def results() -> Iterator[dict[str, tuple[CaseResult, dict]]]:
    suite = load_suite(MOCK_FILE, ROOT)
    functions: dict = {}
    for case in suite.cases:
        functions.update(case.machine.functions)
    with MockRunner(ROOT, functions) as runner:
        runner.put_objects(suite.objects)
        started = [
            (
                case,
                runner.start(
                    suite.config,
                    case.machine.name,
                    case.name,
                    case.machine.definition,
                    case.input,
                    case.machine.substitutions,
                ),
            )
            for case in suite.cases
        ]
        yield {case.name: (runner.result(arn), case.expected) for case, arn in started}


def test_every_case_meets_its_expectations(results) -> None:
    failed = {name: mismatches(expected, result) for name, (result, expected) in results.items()}
    assert {name: lines for name, lines in failed.items() if lines} == {}
    assert all(expected for _result, expected in results.values()), "a case without expectations"


def test_every_state_of_the_job_machine_is_entered_by_some_case(results) -> None:
    definition = json.loads((ROOT / "statemachine/job.asl.json").read_text())
    entered = set()
    for result, _expected in results.values():
        entered |= set(result.states) | set(result.child_states)
    never = sorted(set(state_types(definition)) - entered)
    assert never == [], f"no case in {MOCK_FILE.name} enters {never}: add one"


def test_no_case_starts_a_task(results) -> None:
    assert {name: r.tasks for name, (r, _e) in results.items() if r.tasks} == {}


def test_the_command_reports_each_case_and_exits_0() -> None:
    done = subprocess.run(
        [str(VENV_BIN / "longjob"), "test", str(MOCK_FILE.relative_to(ROOT))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    cases = json.loads(MOCK_FILE.read_text())["StateMachines"]["job"]["TestCases"]
    lines = [line.split() for line in done.stdout.splitlines() if line.startswith("  ")]
    assert sorted(words[1] for words in lines) == sorted(f"job/{name}" for name in cases)
    assert {words[0] for words in lines} == {"PASS"}
    assert f"{len(cases)} cases: {len(cases)} passed, 0 failed" in done.stdout
