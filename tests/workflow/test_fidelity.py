"""The local engine answers as AWS does: one small state machine per behaviour.

Each fixture under fixtures/fidelity/ holds a definition, its input, the status, output,
error, cause and event sequence AWS gives, and the sources those come from (also in
docs/aws-facts.md, "Engine fidelity").
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from longjob.engine.patches.evaluation_errors import parse_timestamp
from longjob.engine.patches.jsonata import hash_, partition, range_
from tests.conftest import VENV_BIN

from .conftest import FIXTURES, SUBSTITUTIONS

CASES = sorted((FIXTURES / "fidelity").glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_behaves_as_on_aws(engine, path: Path) -> None:
    case = load(path)
    assert case["sources"], "every expectation names its source"
    expect = case["expect"]
    result = engine.run(json.dumps(case["definition"]), case["input"], SUBSTITUTIONS)

    assert result.status == expect["status"], result.cause
    assert [event["type"] for event in result.history] == expect["events"]
    if "output" in expect:
        assert result.output == expect["output"]
    assert result.error == expect.get("error")
    assert result.cause == expect.get("cause")
    evaluation_failed = [e for e in result.history if e["type"] == "EvaluationFailed"]
    where = [{"location": e.get("location"), "state": e.get("state")} for e in evaluation_failed]
    assert where == expect.get("evaluationFailed", [])
    for event in evaluation_failed:
        # The event carries the same error and cause as the failure it records.
        assert event["error"] == "States.QueryEvaluationError"
        assert event["cause"].startswith("An error occurred while executing the state ")


def test_the_fixtures_cover_every_class_of_the_issue() -> None:
    names = {path.stem for path in CASES}
    for prefix in ("output_", "assign_", "context_", "jsonata_", "jsonpath_items"):
        assert any(name.startswith(prefix) for name in names), prefix


@pytest.mark.parametrize(
    ("definition", "text_line", "json_output"),
    [
        ("output_string_jsonata", 'output: "HelloWorld"', "HelloWorld"),
        ("output_null", "output: null", None),
        ("output_false", "output: false", False),
        ("output_number_choice", "output: 42", 42),
    ],
)
def test_run_definition_prints_any_json_value(
    project: Path, tmp_path: Path, definition: str, text_line: str, json_output: Any
) -> None:
    path = tmp_path / f"{definition}.asl.json"
    path.write_text(json.dumps(load(FIXTURES / "fidelity" / f"{definition}.json")["definition"]))
    command = [str(VENV_BIN / "longjob"), "run", "--definition", str(path)]

    text = subprocess.run(command, capture_output=True, text=True, cwd=project, check=False)
    assert text.returncode == 0, text.stderr
    assert text_line in text.stdout.splitlines()
    assert "Traceback" not in text.stderr

    document = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, cwd=project, check=False
    )
    assert document.returncode == 0, document.stderr
    report = json.loads(document.stdout)
    assert report["status"] == "SUCCEEDED"
    assert report["output"] == json_output


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("2016-03-14T01:59:00Z", True),
        ("2016-03-14T01:59:00.123Z", True),
        ("2016-03-14T01:59:00+02:00", True),
        ("2016-13-05T21:29:29Z", False),
        ("2016-03-14 01:59:00Z", False),
        ("2016-03-14T01:59:00z", False),
        ("2016-03-14T01:59:00", False),
        (1457920740, False),
    ],
)
def test_timestamps_follow_the_rfc3339_profile(text: Any, valid: bool) -> None:
    assert (parse_timestamp(text) is not None) is valid


def test_step_functions_functions_edge_cases() -> None:
    assert partition([1, 2, 3], 2.9) == [[1, 2], [3]]  # rounded towards zero
    assert partition([1, 2, 3], 0) is None  # undefined
    assert partition([], 2) is None
    assert range_(-1.7, 2, 1) == [-1, 0, 1, 2]
    assert range_(5, 1, -2) == [5, 3, 1]
    assert range_(1, 5, -1) is None  # the step points away from the end
    assert range_(1, 5) is None  # no step
    assert hash_("abc", "MD5") == "900150983cd24fb0d6963f7d28e17f72"
    assert hash_("abc", "md5") is None  # algorithm names are case-sensitive
