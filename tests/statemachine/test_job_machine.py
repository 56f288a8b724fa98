"""The project's own state machine, tested with AWS's mock configuration format.

tests/statemachine/job.mock.json mocks every Task state of statemachine/job.asl.json (the plan,
the ECS tasks, the lock, the notification); job.expect.json holds each case's input and what
it must end with. No task process starts. A new state needs a case that enters it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from longjob.cli.mock_tests import Outcome, run_suites
from longjob.mocking.runner import state_types
from longjob.mocking.suite import load_suite
from tests.conftest import ROOT, VENV_BIN

HERE = Path(__file__).parent
MOCK_FILE = HERE / "job.mock.json"


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    """Every case of the file, run as `longjob test` runs them (at once, on one engine)."""
    return {o.case: o for o in run_suites([load_suite(MOCK_FILE, ROOT)], ROOT)}


def test_every_case_meets_its_expectations(outcomes: dict[str, Outcome]) -> None:
    assert {name: o.problems for name, o in outcomes.items() if o.problems} == {}
    assert all(o.expected for o in outcomes.values()), "a case without expectations"


def test_every_state_of_the_job_machine_is_entered_by_some_case(
    outcomes: dict[str, Outcome],
) -> None:
    definition = json.loads((ROOT / "statemachine/job.asl.json").read_text())
    entered = set()
    for outcome in outcomes.values():
        entered |= set(outcome.result.states) | set(outcome.result.child_states)
    never = sorted(set(state_types(definition)) - entered)
    assert never == [], f"no case in {MOCK_FILE.name} enters {never}: add one"


def test_no_case_starts_a_task(outcomes: dict[str, Outcome]) -> None:
    assert {name: o.result.tasks for name, o in outcomes.items() if o.result.tasks} == {}


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
