"""A mock configuration file as a test suite: its cases, their inputs and expectations.

AWS's file stays as AWS documents it, so Step Functions Local can read it too. What longjob
adds lives beside it, in ``<name>.expect.json`` (``job.mock.json`` -> ``job.expect.json``,
``MockConfigFile.json`` -> ``MockConfigFile.expect.json``)::

    {"StateMachines": {"<machine>": {
        "definition": "../statemachine/job.asl.json",     # optional, relative to this file
        "substitutions": {"Cluster": "..."},               # optional, ${Name} values
        "functions": {"double": "tests/handlers.py:double"},  # optional: handlers for
                                                           # Lambda functions left unmocked
        "TestCases": {"<case>": {
            "input": {...},                                # the execution input (default {})
            "status": "SUCCEEDED",                         # expected execution status
            "error": "States.TaskFailed",                  # expected error (failed runs)
            "cause": {...} | "text",                       # a subset of the JSON cause, or
                                                           # text the cause contains
            "output": {...},                               # a subset of the output
            "states": ["Prepare job", "..."]}}}},          # the states entered, in order
     "S3": {"s3://bucket/key.json": [...]}}               # objects put before the cases run
                                                           # (a string: the object's text)

A machine's definition is, in this order: ``--state-machine NAME=PATH``, the expectations'
``definition``, or ``statemachine/<NAME>.asl.json`` in the project. When it is the template's
state machine, the template's DefinitionSubstitutions and functions come with it.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longjob.mocking.config import MockConfig, MockConfigError, load_mock_config, pointer
from longjob.mocking.runner import state_types

EXPECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "S3": {
            "type": "object",
            "propertyNames": {"pattern": "^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+"},
        },
        "StateMachines": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "definition": {"type": "string", "minLength": 1},
                    "substitutions": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                    },
                    "functions": {
                        "type": "object",
                        "additionalProperties": {"type": "string", "pattern": "^[^:]+:[^:]+$"},
                    },
                    "TestCases": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "input": {},
                                "status": {
                                    "enum": [
                                        "SUCCEEDED",
                                        "FAILED",
                                        "TIMED_OUT",
                                        "ABORTED",
                                    ]
                                },
                                "error": {"type": ["string", "null"]},
                                "cause": {"type": ["string", "object"]},
                                "output": {},
                                "states": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    },
                },
            },
        },
    },
}


@dataclass
class Machine:
    name: str
    definition_path: Path
    substitutions: dict[str, str] = field(default_factory=dict)
    functions: dict[str, Any] = field(default_factory=dict)

    @property
    def definition(self) -> str:
        return self.definition_path.read_text()


@dataclass
class Case:
    machine: Machine
    name: str
    input: Any
    expected: dict[str, Any]  # empty: nothing expected, the case is only run


@dataclass
class Suite:
    config: MockConfig
    expect_path: Path | None
    cases: list[Case]
    objects: dict[str, Any] = field(default_factory=dict)  # s3://bucket/key -> JSON value


def expectations_path(mock_path: Path) -> Path:
    stem = mock_path.name.removesuffix(".json").removesuffix(".mock")
    return mock_path.with_name(stem + ".expect.json")


def load_suite(mock_path: Path, project: Path, overrides: dict[str, str] | None = None) -> Suite:
    """The file's cases, each with its machine, input and expectations; MockConfigError
    (exit 2) for any problem in either file."""
    from longjob.job_files import read_json

    config = load_mock_config(mock_path)
    expect_path = expectations_path(mock_path)
    expect: dict[str, Any] = {}
    if expect_path.exists():
        expect = read_json(str(expect_path))
        problems = _expect_problems(expect_path, expect)
        if problems:
            raise MockConfigError(problems)
    machines_expected = expect.get("StateMachines", {})
    problems = []
    for machine_name, body in machines_expected.items():
        if machine_name not in config.state_machines:
            problems.append(
                f"{expect_path}: {pointer('StateMachines', machine_name)}: {mock_path} has no "
                f"state machine {machine_name!r}"
            )
            continue
        for case in body.get("TestCases", {}):
            if case not in config.cases(machine_name):
                where = pointer("StateMachines", machine_name, "TestCases", case)
                problems.append(
                    f"{expect_path}: {where}: {mock_path} has no test case {case!r} "
                    f"for state machine {machine_name!r}"
                )
    if problems:
        raise MockConfigError(problems)
    cases = []
    for machine_name in config.state_machines:
        body = machines_expected.get(machine_name, {})
        machine = _machine(machine_name, body, expect_path, project, overrides or {})
        definition = _definition_json(machine)
        config.check_states(machine_name, state_types(definition), str(machine.definition_path))
        for case_name in config.cases(machine_name):
            expected = dict(body.get("TestCases", {}).get(case_name, {}))
            execution_input = expected.pop("input", {})
            cases.append(Case(machine, case_name, execution_input, expected))
    return Suite(config, expect_path if expect_path.exists() else None, cases, expect.get("S3", {}))


def _expect_problems(path: Path, document: Any) -> list[str]:
    from jsonschema import Draft202012Validator

    errors = sorted(
        Draft202012Validator(EXPECT_SCHEMA).iter_errors(document),
        key=lambda e: list(e.absolute_path),
    )
    return [f"{path}: {pointer(*e.absolute_path) or '/'}: {e.message}" for e in errors]


def _machine(
    name: str, body: dict[str, Any], expect_path: Path, project: Path, overrides: dict[str, str]
) -> Machine:
    if name in overrides:
        path = Path(overrides[name])
    elif "definition" in body:
        path = expect_path.parent / body["definition"]
    else:
        path = project / "statemachine" / f"{name}.asl.json"
    if not path.is_file():
        why = "is a folder, not an ASL file" if path.is_dir() else "does not exist"
        raise MockConfigError(
            [
                f"no definition for state machine {name!r}: {path} {why} "
                f"(give one with --state-machine {name}=PATH, or 'definition' in "
                f"{expect_path.name})"
            ]
        )
    machine = Machine(name, path)
    if "${" in path.read_text():
        _template_settings(machine, project)
    machine.substitutions.update(body.get("substitutions", {}))
    if body.get("functions"):
        from longjob.engine.service_hooks import FunctionSpec

        machine.functions.update({k: FunctionSpec(v) for k, v in body["functions"].items()})
    return machine


def _template_settings(machine: Machine, project: Path) -> None:
    """The template's DefinitionSubstitutions and functions, when the definition is its."""
    if not (project / "template.yaml").exists():
        return
    from longjob.stack.application import load_application

    application = load_application(project)
    if application.definition_path.resolve() == machine.definition_path.resolve():
        machine.substitutions.update(application.substitutions)
        machine.functions.update(application.functions)


def _definition_json(machine: Machine) -> dict[str, Any]:
    from longjob.engine.exceptions import InvalidInput
    from longjob.engine.local_engine import substitute

    try:
        parsed = json.loads(substitute(machine.definition, machine.substitutions))
    except json.JSONDecodeError as error:
        raise MockConfigError([f"{machine.definition_path}: not JSON ({error})"]) from None
    except InvalidInput as error:  # an unfilled ${Name}: the engine's message says which
        raise MockConfigError([f"{machine.definition_path}: {error}"]) from None
    return parsed if isinstance(parsed, dict) else {}


# --- expectations -----------------------------------------------------------------------


def mismatches(expected: dict[str, Any], result: Any) -> list[str]:
    """How a case's result differs from what is expected: one or more lines per field."""
    found: list[str] = []
    if "status" in expected and result.status != expected["status"]:
        found.append(f"status: expected {expected['status']}, got {result.status}")
        if result.error and "error" not in expected:
            found.append(f"  error: {result.error}: {(result.cause or '')[:300]}")
    if "error" in expected and result.error != expected["error"]:
        found.append(f"error: expected {expected['error']}, got {result.error}")
        if result.cause:
            found.append(f"  cause: {result.cause[:300]}")
    if "cause" in expected:
        found += _cause_mismatches(expected["cause"], result.cause)
    if "output" in expected:
        found += [f"output {line}" for line in subset_mismatches(expected["output"], result.output)]
    if "states" in expected and result.states != expected["states"]:
        found.append("states entered (- expected, + got):")
        diff = difflib.unified_diff(expected["states"], result.states, lineterm="", n=1)
        found += [f"  {line}" for line in list(diff)[2:] if not line.startswith("@@")]
    return found


def _cause_mismatches(expected: str | dict[str, Any], cause: str | None) -> list[str]:
    if isinstance(expected, str):
        if expected in (cause or ""):
            return []
        return [f"cause: expected it to contain {_short(expected)}, got {_short(cause)}"]
    try:
        parsed = json.loads(cause or "")
    except json.JSONDecodeError:
        return [f"cause: expected a JSON object, got {_short(cause)}"]
    return [f"cause {line}" for line in subset_mismatches(expected, parsed)]


def subset_mismatches(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Where ``actual`` does not hold ``expected``: objects may have more keys, arrays and
    scalars must match (their elements by the same rule)."""
    at = where or "/"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{at}: expected an object, got {json.dumps(actual)[:200]}"]
        found = []
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{pointer_join(where, key)}: missing (expected {_short(value)})")
            else:
                found += subset_mismatches(value, actual[key], pointer_join(where, key))
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{at}: expected {_short(expected)}, got {_short(actual)}"]
        found = []
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            found += subset_mismatches(want, got, pointer_join(where, index))
        return found
    # JSON has one number type (1 == 1.0), but true is not 1.
    if expected != actual or isinstance(expected, bool) != isinstance(actual, bool):
        return [f"{at}: expected {_short(expected)}, got {_short(actual)}"]
    return []


def pointer_join(where: str, key: str | int) -> str:
    return where + pointer(key)


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 200 else text[:197] + "..."
