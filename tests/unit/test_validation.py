"""longjob_core.validation: each rule of job document v1, with its pointer and words."""

from __future__ import annotations

import json
from typing import Any

import pytest
from longjob_core.validation import check

from tests.conftest import ROOT


def doc(**stage: Any) -> dict[str, Any]:
    return {"job": "j", "stages": [{"name": "s", "run": ["bash", "x.sh"], **stage}]}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            doc(maxConcurrency=2),
            "/stages/0/maxConcurrency: needs forEach or forEachFrom in the same stage",
        ),
        (
            doc(toleratedFailurePercentage=5),
            "/stages/0/toleratedFailurePercentage: needs forEach or forEachFrom in the same stage",
        ),
        (
            doc(forEach=["a"], forEachFrom="s3://b/k.json"),
            "/stages/0/forEachFrom: cannot be used with forEach: a stage has one list",
        ),
        (
            doc(forEachFrom="https://b/k.json"),
            "/stages/0/forEachFrom: must be s3://bucket/key.json (a JSON array) or "
            "s3://bucket/key.csv (a CSV file with a header row) stored in S3",
        ),
        (
            doc(forEach=list(range(10_001))),
            "/stages/0/forEach: must have at most 10000 items",
        ),
        (
            doc(forEach=["a"], maxConcurrency=1001),
            "/stages/0/maxConcurrency: must be at most 1000",
        ),
        (doc(cpu=1024), "/stages/0/memory: is required with cpu/memory (a Fargate pair)"),
        (doc(cpu=1000, memory=2048), "/stages/0/cpu: must be one of 256, 512, 1024"),
        (doc(retries=11), "/stages/0/retries: must be at most 10"),
        (doc(forEach=[]), "/stages/0/forEach: must have at least 1 item(s)"),
        (doc(forEach=[{"a": 1}]), "/stages/0/forEach/0: must be a string or a number"),
        (doc(env={"lower": "x"}), "/stages/0/env/lower: must be an upper-case name"),
        (doc(env={"X": "ssm:no-slash"}), "/stages/0/env/X: SSM references look like ssm:/path"),
        (doc(env={"API_TOKEN": ""}), None),  # empty is no secret
        (doc(env={"API_TOKEN": "secretsmanager:prod/api"}), None),
        (doc(run=["bash"]), "/stages/0/run: must have at least 2 item(s)"),
        (doc(run=["bash", "-x.sh"]), "/stages/0/run/1: must be a relative path"),
        (doc(run=["bash", "/etc/x.sh"]), "/stages/0/run/1: must be a relative path"),
        (doc(run=["bash", "a/../b.sh"]), "/stages/0/run/1: must be a relative path"),
        (doc(run=["bash", "a..b.sh"]), None),  # dots inside a name are fine
        (doc(run=["bash", "x.sh", 3]), "/stages/0/run/2: must be a string"),
        (doc(timeoutSeconds=0), "/stages/0/timeoutSeconds: must be at least 1"),
        ({"job": "j", "stages": [{"run": ["bash", "x.sh"]}]}, "/stages/0/name: is required"),
        (
            {"job": "j", "timeoutSeconds": 31536001, "stages": doc()["stages"]},
            "/timeoutSeconds: must be at most 31536000",
        ),
        (
            {"job": "j", "concurrency": "maybe", "stages": doc()["stages"]},
            '/concurrency: must be one of "forbid", "allow"',
        ),
        ("nope", "/: must be an object"),
    ],
)
def test_rules(document: Any, expected: str | None) -> None:
    problems = [str(p) for p in check(document)]
    if expected is None:
        assert problems == []
    else:
        assert any(p.startswith(expected) for p in problems), problems


def test_container_overrides_limit_points_at_the_item() -> None:
    document = doc(forEach=["small", "x" * 9000], run=["bash", "x.sh", "{item}"])
    (problem,) = check(document)
    assert problem.pointer == "/stages/0/forEach/1"
    assert "ECS accepts at most 8192" in problem.rule


def test_document_size_limit() -> None:
    document = doc(forEach=["x" * 300] * 1000)
    problems = [str(p) for p in check(document)]
    assert any(p.startswith("/: is ") and "at most 262,144" in p for p in problems)


def test_examples_and_the_design_document_example_are_valid() -> None:
    for path in (ROOT / "jobs" / "examples").glob("*.json"):
        assert check(json.loads(path.read_text())) == [], path
    design_example = json.loads((ROOT / "tests/unit/events/prepare_job_nightly.json").read_text())
    assert check(design_example["document"]) == []


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("BASH_ENV", "read by the shell at start-up"),
        ("ENV", "read by the shell at start-up"),
        ("SHELLOPTS", "read by the shell at start-up"),
        ("PS4", "read by the shell at start-up"),
        ("BASHOPTS", "read by the shell at start-up"),
        ("IFS", "read by the shell at start-up"),
        ("LD_PRELOAD", "read by the dynamic loader"),
        ("PYTHONPATH", "read by an interpreter at start-up"),
        ("PYTHONWARNINGS", "read by an interpreter at start-up"),
        ("BROWSER", "read by an interpreter at start-up"),
        ("PATH", "decides where programs and their configuration files are found"),
        ("HOME", "decides where programs and their configuration files are found"),
        ("PGPASSFILE", "points a client at a configuration file"),
        ("HTTPS_PROXY", "can redirect, intercept or decrypt the task's traffic"),
        ("REQUESTS_CA_BUNDLE", "can redirect, intercept or decrypt the task's traffic"),
        ("_PRIVATE", "must be an upper-case name: A-Z, 0-9 and '_', starting with a letter"),
    ],
)
def test_environment_names_that_could_run_code_are_refused(name: str, rule: str) -> None:
    """Anyone who may start a run chooses the environment of a process holding the task
    role: these names would let them run code or redirect traffic (security review)."""
    (problem,) = check(doc(env={name: "$(id >&2)"}))
    assert problem.pointer == f"/stages/0/env/{name}"
    assert rule in problem.rule


def test_the_schema_lists_the_same_refused_names_as_the_rules() -> None:
    """Editors see the refusals through job.schema.json; it must match the Python rules."""
    from longjob_core import environment

    schema = json.loads((ROOT / "jobs" / "job.schema.json").read_text())
    names = schema["$defs"]["stage"]["properties"]["env"]["propertyNames"]
    denied, prefixes = names["not"]["anyOf"]
    assert set(denied["enum"]) == set(environment.DENIED_NAMES)
    assert prefixes["pattern"] == "^(" + "|".join(environment.DENIED_PREFIXES) + ")"
    assert names["pattern"] == environment.NAME.pattern
