"""AWS's mock configuration files (Step Functions Local's ``MockConfigFile.json``), read and
checked.

The format is AWS's, untouched (docs/aws-facts.md, "Mock configuration files"):
``StateMachines.<machine>.TestCases.<case>.<Task state> -> <mocked response name>`` and
``MockedResponses.<name>.<"n" | "n-m"> -> {"Return": …} | {"Throw": {"Error", "Cause"}}``.
The keys of a mocked response are invocation numbers of the state in one execution, from 0,
retries and re-entries included; every invocation needs one. A file that breaks a rule is
refused with one line per problem: the file, the JSON pointer and the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longjob.errors import UserError

_RANGE = re.compile(r"^(0|[1-9][0-9]*)(?:-(0|[1-9][0-9]*))?$")

# The shapes; the rules between fields (ranges, names, states) are checked after.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["StateMachines", "MockedResponses"],
    "properties": {
        "StateMachines": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["TestCases"],
                "additionalProperties": False,
                "properties": {
                    "TestCases": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                    }
                },
            },
        },
        "MockedResponses": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": {"type": "object"},
            },
        },
    },
}

THROW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["Error", "Cause"],
    "additionalProperties": False,
    "properties": {"Error": {"type": "string"}, "Cause": {"type": "string"}},
}


class MockConfigError(UserError):
    """A mock configuration file AWS's format refuses: every problem, one line each."""

    prefixed = False

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901) to the value at ``parts``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True)
class MockedResponse:
    """One response of a mocked Task state: what invocations ``first``..``last`` get."""

    first: int
    last: int
    returns: Any = None
    error: str | None = None
    cause: str | None = None
    key: str = ""  # as the file writes it ("3" or "3-3")

    @property
    def throws(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class MockConfig:
    path: Path
    state_machines: dict[str, dict[str, dict[str, str]]]  # machine -> case -> state -> name
    responses: dict[str, list[MockedResponse]]  # name -> ranges, in order from 0

    def cases(self, machine: str) -> list[str]:
        return list(self.state_machines.get(machine, {}))

    def test_case(self, machine: str, case: str) -> dict[str, list[MockedResponse]]:
        """The responses of each mocked state of one test case: ranges of invocations, in
        order from 0 and without gaps (a range is kept whole: "0-99999999" is one entry)."""
        states = self.state_machines[machine][case]
        return {state: self.responses[name] for state, name in states.items()}

    def check_states(self, machine: str, states: dict[str, str], definition: str) -> None:
        """Refuses test cases that mock a state the definition lacks, or one that is not a
        Task. ``states`` maps every state name (nested ones too) to its type."""
        problems = []
        for case, mocked in self.state_machines.get(machine, {}).items():
            for state in mocked:
                where = pointer("StateMachines", machine, "TestCases", case, state)
                kind = states.get(state)
                if kind is None:
                    problems.append(f"{self.path}: {where}: {definition} has no state {state!r}")
                elif kind != "Task":
                    problems.append(
                        f"{self.path}: {where}: {state!r} is a {kind} state; "
                        "only Task states can be mocked"
                    )
        if problems:
            raise MockConfigError(problems)


def load_mock_config(path: str | Path) -> MockConfig:
    """The file, checked; MockConfigError lists every problem."""
    from longjob.job_files import read_json

    document = read_json(str(path))
    problems = _shape_problems(path, document)
    if problems:
        raise MockConfigError(problems)
    responses: dict[str, list[MockedResponse]] = {}
    for name, ranges in document["MockedResponses"].items():
        parsed, found = _responses(path, name, ranges)
        problems += found
        responses[name] = parsed
    for machine, body in document["StateMachines"].items():
        for case, states in body["TestCases"].items():
            for state, name in states.items():
                if name not in responses:
                    where = pointer("StateMachines", machine, "TestCases", case, state)
                    problems.append(
                        f"{path}: {where}: names mocked response {name!r}, "
                        "which MockedResponses does not define"
                    )
    if problems:
        raise MockConfigError(problems)
    return MockConfig(
        path=Path(path),
        state_machines={
            machine: dict(body["TestCases"]) for machine, body in document["StateMachines"].items()
        },
        responses=responses,
    )


def _shape_problems(path: str | Path, document: Any) -> list[str]:
    from jsonschema import Draft202012Validator

    errors = sorted(
        Draft202012Validator(SCHEMA).iter_errors(document), key=lambda e: list(e.absolute_path)
    )
    return [f"{path}: {pointer(*e.absolute_path) or '/'}: {e.message}" for e in errors]


def _responses(
    path: str | Path, name: str, ranges: dict[str, Any]
) -> tuple[list[MockedResponse], list[str]]:
    from jsonschema import Draft202012Validator

    problems: list[str] = []
    parsed: list[MockedResponse] = []
    for key, body in ranges.items():
        where = f"{path}: {pointer('MockedResponses', name, key)}"
        match = _RANGE.match(key)
        if match is None:
            problems.append(f'{where}: not an invocation number ("0") or range ("1-2")')
            continue
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last < first:
            problems.append(f"{where}: the range ends before it starts")
            continue
        kinds = [k for k in ("Return", "Throw") if k in body]
        others = sorted(set(body) - {"Return", "Throw"})
        if len(kinds) != 1 or others:
            rule = (
                "has both Return and Throw"
                if len(kinds) == 2
                else f"has {', '.join(others)}"
                if others
                else "has neither Return nor Throw"
            )
            problems.append(f"{where}: {rule}; a response is one field, Return or Throw")
            continue
        if kinds == ["Throw"]:
            errors = list(Draft202012Validator(THROW_SCHEMA).iter_errors(body["Throw"]))
            if errors:
                problems += [f"{where}/Throw: {e.message}" for e in errors]
                continue
            throw = body["Throw"]
            parsed.append(
                MockedResponse(first, last, error=throw["Error"], cause=throw["Cause"], key=key)
            )
        else:
            parsed.append(MockedResponse(first, last, returns=body["Return"], key=key))
    parsed.sort(key=lambda r: r.first)
    expected = 0
    for response in parsed:
        where = f"{path}: {pointer('MockedResponses', name, response.key)}"
        if response.first > expected:
            gap = _key(MockedResponse(expected, response.first - 1))
            problems.append(
                f"{where}: no response for invocation {gap}; "
                "ranges start at 0 and follow each other without gaps"
            )
        elif response.first < expected:
            problems.append(
                f"{where}: overlaps an earlier range (invocation {response.first} "
                "has two responses)"
            )
        expected = max(expected, response.last + 1)
    return parsed, problems


def _key(response: MockedResponse) -> str:
    if response.first == response.last:
        return str(response.first)
    return f"{response.first}-{response.last}"
