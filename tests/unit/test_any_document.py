"""Any JSON value is a document some user will send: validation answers every one with
problems that name their JSON pointer, never with an exception (property-based)."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from longjob_core.exceptions import InvalidJobDocument
from longjob_core.planning import make_plan
from longjob_core.validation import check

from tests.conftest import ROOT

EXAMPLES = [json.loads(p.read_text()) for p in sorted((ROOT / "jobs/examples").glob("*.json"))]
SETTINGS = settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["{item}", "ssm:/x", "secretsmanager:", "bash", "test.sh", "../x", "-x"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=10)
            | st.sampled_from(["job", "stages", "name", "run", "env", "forEach"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=25,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside a document a mutation can hit."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


@st.composite
def mutated_examples(draw: st.DrawFn) -> Any:
    document = copy.deepcopy(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        where = draw(st.sampled_from(paths(document)))
        replacement = draw(json_values)
        if not where:
            document = replacement
            continue
        parent = document
        for step in where[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "wrap", "stringify"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[where[-1]]
        elif action == "wrap":
            parent[where[-1]] = [parent[where[-1]]]
        elif action == "stringify":
            parent[where[-1]] = json.dumps(parent[where[-1]])
        else:
            parent[where[-1]] = replacement
    return document


def answers(document: Any) -> None:
    problems = check(document)
    for problem in problems:
        assert problem.pointer == "" or problem.pointer.startswith("/"), problem
        assert problem.rule, problem
        assert str(problem).startswith("/"), problem
    if problems:
        assert str(InvalidJobDocument(problems)).startswith("invalid job document (")
    else:  # whatever passes validation can be planned
        make_plan(document, "x" * 80, "2026-12-01T00:00:00Z")


@SETTINGS
@given(json_values)
def test_any_json_value_gets_problems_with_pointers(document: Any) -> None:
    answers(document)


@SETTINGS
@given(mutated_examples())
def test_any_mutation_of_an_example_gets_problems_with_pointers(document: Any) -> None:
    answers(document)
