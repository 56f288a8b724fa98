"""Mock configuration files: AWS's format, and one clear line for each mistake in one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from longjob.mocking.config import MockConfigError, load_mock_config
from longjob.mocking.runner import state_types
from longjob.mocking.suite import subset_mismatches

DEFINITION = {
    "StartAt": "Call",
    "States": {
        "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Each"},
        "Each": {
            "Type": "Map",
            "ItemProcessor": {
                "StartAt": "Inner",
                "States": {"Inner": {"Type": "Task", "Resource": "x", "End": True}},
            },
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}
OK = {"Return": {"StatusCode": 200, "Payload": {}}}


def config_file(tmp_path: Path, responses: dict[str, Any], case: dict[str, str]) -> Path:
    path = tmp_path / "M.json"
    path.write_text(
        json.dumps(
            {
                "StateMachines": {"sm": {"TestCases": {"Happy": case}}},
                "MockedResponses": responses,
            }
        )
    )
    return path


def problems(tmp_path: Path, responses: dict[str, Any], case: dict[str, str]) -> list[str]:
    path = config_file(tmp_path, responses, case)

    def load_and_check() -> None:
        load_mock_config(path).check_states("sm", state_types(DEFINITION), "sm.asl.json")

    with pytest.raises(MockConfigError) as refused:
        load_and_check()
    return [line.replace(str(path), "M.json") for line in refused.value.problems]


def test_awss_documented_example_loads_as_ranges_of_invocations(tmp_path: Path) -> None:
    retry = {
        "0": {"Throw": {"Error": "Lambda.ResourceNotReadyException", "Cause": "not ready"}},
        "1-2": {"Throw": {"Error": "Lambda.TimeoutException", "Cause": "timed out"}},
        "3": OK,
    }
    config = load_mock_config(config_file(tmp_path, {"Retry": retry}, {"Call": "Retry"}))
    responses = config.test_case("sm", "Happy")["Call"]
    assert [(r.first, r.last, r.error) for r in responses] == [
        (0, 0, "Lambda.ResourceNotReadyException"),
        (1, 2, "Lambda.TimeoutException"),
        (3, 3, None),
    ]
    assert responses[2].returns == OK["Return"]
    config.check_states("sm", state_types(DEFINITION), "sm.asl.json")  # Inner is in the Map


@pytest.mark.parametrize(
    ("responses", "case", "expected"),
    [
        (
            {"R": {"0": OK}},
            {"Cal": "R"},
            "M.json: /StateMachines/sm/TestCases/Happy/Cal: sm.asl.json has no state 'Cal'",
        ),
        (
            {"R": {"0": OK}},
            {"Done": "R"},
            "M.json: /StateMachines/sm/TestCases/Happy/Done: 'Done' is a Succeed state; "
            "only Task states can be mocked",
        ),
        (
            {"R": {"0-2": OK, "2-2": OK}},
            {"Call": "R"},
            "M.json: /MockedResponses/R/2-2: overlaps an earlier range "
            "(invocation 2 has two responses)",
        ),
        (
            {"R": {"0": OK, "2-3": OK}},
            {"Call": "R"},
            "M.json: /MockedResponses/R/2-3: no response for invocation 1; "
            "ranges start at 0 and follow each other without gaps",
        ),
        (
            {"R": {"1": OK}},
            {"Call": "R"},
            "M.json: /MockedResponses/R/1: no response for invocation 0; "
            "ranges start at 0 and follow each other without gaps",
        ),
        (
            {"R": {"0": {**OK, "Throw": {"Error": "E", "Cause": "c"}}}},
            {"Call": "R"},
            "M.json: /MockedResponses/R/0: has both Return and Throw; "
            "a response is one field, Return or Throw",
        ),
        (
            {"R": {"0": {"Throw": {"Error": "E"}}}},
            {"Call": "R"},
            "M.json: /MockedResponses/R/0/Throw: 'Cause' is a required property",
        ),
        (
            {"R": {"first": OK}},
            {"Call": "R"},
            'M.json: /MockedResponses/R/first: not an invocation number ("0") or range ("1-2")',
        ),
        (
            {"R": {"3-1": OK}},
            {"Call": "R"},
            "M.json: /MockedResponses/R/3-1: the range ends before it starts",
        ),
        (
            {"R": {"0": OK}},
            {"Call": "Missing"},
            "M.json: /StateMachines/sm/TestCases/Happy/Call: names mocked response 'Missing', "
            "which MockedResponses does not define",
        ),
    ],
    ids=[
        "unknown-state",
        "not-a-task",
        "overlapping-range",
        "gap-in-ranges",
        "not-from-zero",
        "return-and-throw",
        "throw-without-cause",
        "not-a-number",
        "backwards-range",
        "unknown-response",
    ],
)
def test_each_mistake_is_one_line_with_file_pointer_and_rule(
    tmp_path: Path, responses: dict[str, Any], case: dict[str, str], expected: str
) -> None:
    assert problems(tmp_path, responses, case) == [expected]


def test_a_file_of_the_wrong_shape_is_refused_at_its_pointer(tmp_path: Path) -> None:
    path = tmp_path / "M.json"
    path.write_text(json.dumps({"StateMachines": {"sm": {"Cases": {}}}, "MockedResponses": {}}))
    with pytest.raises(MockConfigError) as refused:
        load_mock_config(path)
    assert [p.replace(str(path), "M.json") for p in refused.value.problems] == [
        "M.json: /StateMachines/sm: 'TestCases' is a required property",
        "M.json: /StateMachines/sm: Additional properties are not allowed ('Cases' was unexpected)",
    ]


def test_a_pointer_escapes_slashes_and_tildes_in_names(tmp_path: Path) -> None:
    lines = problems(tmp_path, {"a/b~c": {"x": OK}}, {"Call": "a/b~c"})
    assert lines[0].startswith("M.json: /MockedResponses/a~1b~0c/x: ")


@pytest.mark.parametrize(
    ("expected", "actual", "found"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, []),
        ({"a": {"b": [1, {"c": 2}]}}, {"a": {"b": [1, {"c": 2, "d": 3}]}}, []),
        ({"a": 1}, {"a": 1.0}, []),
        ({"a": True}, {"a": 1}, ["/a: expected true, got 1"]),
        ({"a": [1]}, {"a": [1, 2]}, ["/a: expected [1], got [1, 2]"]),
        ({"a": 1}, {}, ["/a: missing (expected 1)"]),
        ({"a": {"b": 2}}, {"a": {"b": 3}}, ["/a/b: expected 2, got 3"]),
        ({"a": 1}, None, ["/: expected an object, got null"]),
    ],
)
def test_output_expectations_are_subsets(expected: Any, actual: Any, found: list[str]) -> None:
    assert subset_mismatches(expected, actual) == found
