"""Checks a job document against job document v1: the JSON Schema, then the rules a schema
cannot express. Every problem names its field by JSON pointer and says the rule."""

from __future__ import annotations

import difflib
import json
import re
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from longjob_core.contract import SPOT, SPOT_THEN_ON_DEMAND
from longjob_core.environment import NAME_RULE, name_problem
from longjob_core.planning import oversized_tasks
from longjob_core.problems import Problem, pointer
from longjob_core.quotas import document_problems, quota_problems, worst_plan

SECRET_NAME_HINTS = ("PASSWORD", "SECRET", "TOKEN", "API_KEY", "PRIVATE_KEY")
SSM_REFERENCE = re.compile(r"^ssm:/[A-Za-z0-9_.\-/]+$")
SECRETS_MANAGER_REFERENCE = re.compile(r"^secretsmanager:[A-Za-z0-9/_+=.@:\-]+$")

# Fargate's valid task sizes: CPU units -> allowed memory (MiB).
FARGATE_MEMORY = {
    256: {512, 1024, 2048},
    512: set(range(1024, 4096 + 1, 1024)),
    1024: set(range(2048, 8192 + 1, 1024)),
    2048: set(range(4096, 16384 + 1, 1024)),
    4096: set(range(8192, 30720 + 1, 1024)),
    8192: set(range(16384, 61440 + 1, 4096)),
    16384: set(range(32768, 122880 + 1, 8192)),
}

# Readable rules for the schema's patterns, by the name of the field they constrain.
PATTERN_RULES = {
    "job": "must be 1-64 letters, digits, '_' or '-', starting with a letter or digit",
    "name": "must be 1-64 letters, digits, '_' or '-', starting with a letter or digit",
    "run": "must be a relative path inside the scripts folder (no '..', no leading '/' or '-')",
    "checkpointsFrom": "must be an execution name (1-80 characters, no spaces, '/' or the "
    "other characters Step Functions refuses in names)",
    "forEachFrom": "must be s3://bucket/key.json (a JSON array) or s3://bucket/key.csv (a CSV "
    "file with a header row) stored in S3",
}
# What an approval stage may have: it runs no task (contract.APPROVAL_MODE).
APPROVAL_STAGE_FIELDS = ("name", "approval")
APPROVAL_STAGE_RULE = "an approval stage runs no task: it has only name and approval"
# Fields that only mean something in a stage with items.
NEEDS_ITEMS = ("maxConcurrency", "toleratedFailurePercentage", "toleratedFailureCount")


@cache
def schema() -> dict[str, Any]:
    text = resources.files("longjob_core").joinpath("job.schema.json").read_text()
    return json.loads(text)


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def _describe(error: ValidationError) -> list[Problem]:
    path = list(error.absolute_path)
    where = pointer(path)
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        problems = []
        for extra in sorted(set(error.instance) - set(allowed)):
            hint = difflib.get_close_matches(extra, allowed, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            problems.append(
                Problem(
                    pointer([*path, extra]),
                    f"unknown field (allowed: {', '.join(allowed)}){suggestion}",
                )
            )
        return problems
    if kind == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        return [Problem(pointer([*path, m]), "is required") for m in missing]
    if "propertyNames" in error.schema_path:  # the instance is a property name of path
        return _describe_property_name(error, path)
    if kind == "pattern":
        key = next((str(p) for p in reversed(path) if isinstance(p, str)), "")
        return [Problem(where, PATTERN_RULES.get(key, f"must match {error.validator_value}"))]
    if kind == "enum":
        choices = ", ".join(json.dumps(v) for v in error.validator_value)
        return [Problem(where, f"must be one of {choices}")]
    if kind == "type":
        expected = error.validator_value
        names = expected if isinstance(expected, list) else [expected]
        return [Problem(where, f"must be {' or '.join(_a(n) for n in names)}")]
    rules = {
        "minimum": f"must be at least {error.validator_value}",
        "maximum": f"must be at most {error.validator_value}",
        "minItems": f"must have at least {error.validator_value} item(s)",
        "maxItems": f"must have at most {error.validator_value} items",
        "minLength": f"must have at least {error.validator_value} character(s)",
        "maxLength": f"must have at most {error.validator_value} characters",
        "uniqueItems": "must not list an item twice",
    }
    return [Problem(where, rules.get(kind, error.message))]


def _describe_property_name(error: ValidationError, path: list[Any]) -> list[Problem]:
    name = error.instance
    return [Problem(pointer([*path, name]), name_problem(str(name)) or NAME_RULE)]


def _a(type_name: str) -> str:
    article = "an" if type_name[0] in "aeiou" else "a"
    return f"{article} {type_name}"


def _stage_rules(index: int, stage: dict[str, Any], seen: dict[str, int]) -> list[Problem]:
    at = f"/stages/{index}"
    problems = []
    name = stage.get("name")
    if isinstance(name, str):
        if name in seen:
            problems.append(Problem(f"{at}/name", f"duplicates the name of /stages/{seen[name]}"))
        else:
            seen[name] = index
    if "approval" in stage:
        return problems + [
            Problem(f"{at}/{field}", APPROVAL_STAGE_RULE)
            for field in sorted(stage)
            if field not in APPROVAL_STAGE_FIELDS
        ]
    if "run" not in stage:
        problems.append(Problem(f"{at}/run", "is required (an approval stage has approval)"))
    if "forEach" in stage and "forEachFrom" in stage:
        problems.append(
            Problem(f"{at}/forEachFrom", "cannot be used with forEach: a stage has one list")
        )
    if "forEach" not in stage and "forEachFrom" not in stage:
        problems += [
            Problem(f"{at}/{field}", "needs forEach or forEachFrom in the same stage")
            for field in NEEDS_ITEMS
            if field in stage
        ]
    cpu, memory = stage.get("cpu"), stage.get("memory")
    if (cpu is None) != (memory is None):
        missing = "memory" if memory is None else "cpu"
        problems.append(Problem(f"{at}/{missing}", "is required with cpu/memory (a Fargate pair)"))
    elif (
        isinstance(cpu, int)
        and cpu in FARGATE_MEMORY
        and isinstance(memory, int)
        and memory not in FARGATE_MEMORY[cpu]
    ):
        allowed = sorted(FARGATE_MEMORY[cpu])
        problems.append(
            Problem(
                f"{at}/memory",
                f"{memory} MiB is not a valid Fargate size with cpu {cpu} "
                f"(allowed: {allowed[0]}-{allowed[-1]} in steps of {_step(allowed)})",
            )
        )
    env = stage.get("env")
    # The schema reports an env that is not an object; the rules below read only objects.
    for key, value in (env if isinstance(env, dict) else {}).items():
        if not isinstance(value, str):
            continue
        where = f"{at}/env/{key}"
        if value.startswith("ssm:") and not SSM_REFERENCE.match(value):
            problems.append(Problem(where, "SSM references look like ssm:/path/to/parameter"))
        elif value.startswith("secretsmanager:") and not SECRETS_MANAGER_REFERENCE.match(value):
            problems.append(
                Problem(where, "Secrets Manager references look like secretsmanager:name")
            )
        elif (
            value
            and not is_reference(value)
            and any(hint in key.upper() for hint in SECRET_NAME_HINTS)
        ):
            problems.append(
                Problem(
                    where,
                    "looks like a secret: pass a reference (ssm:/path or secretsmanager:name), "
                    "never the value",
                )
            )
    return problems


def exit_code_problems(stages: list[Any]) -> list[Problem]:
    """A code both retried and never retried says two things: refused."""
    problems = []
    for index, stage in enumerate(stages):
        if not isinstance(stage, dict):
            continue
        retried = (stage.get("retryOn") or {}).get("exitCodes")
        never = (stage.get("failFast") or {}).get("exitCodes")
        if not isinstance(retried, list) or not isinstance(never, list):
            continue
        both = sorted(
            {c for c in retried if isinstance(c, int)} & {c for c in never if isinstance(c, int)}
        )
        if both:
            problems.append(
                Problem(
                    f"/stages/{index}/failFast/exitCodes",
                    f"{', '.join(map(str, both))} also in retryOn: a code is either retried "
                    "or failed at once",
                )
            )
    return problems


def _step(values: list[int]) -> int:
    return values[1] - values[0] if len(values) > 1 else 0


def is_reference(value: str) -> bool:
    return bool(SSM_REFERENCE.match(value) or SECRETS_MANAGER_REFERENCE.match(value))


# Fargate Spot and ARM64: the ECS developer guide says Fargate Spot runs only X86_64 Linux
# tasks; a newer API-reference sentence says ARM64 on platform 1.4.0. Until the guide
# agrees, a document asking for Spot on an ARM64 stack is refused before it starts
# (docs/aws-facts.md), as the template's SpotNeedsX86 rule refuses the stack default.
SPOT_CAPACITIES = (SPOT, SPOT_THEN_ON_DEMAND)
SPOT_ON_ARM64 = (
    "Fargate Spot does not run ARM64 tasks, and this stack's CpuArchitecture is ARM64: use "
    "on-demand, or deploy the stack with CpuArchitecture=X86_64"
)


def capacity_problems(document: dict[str, Any], architecture: str | None) -> list[Problem]:
    """Spot capacity asked for on a stack whose tasks are ARM64."""
    if architecture != "ARM64":
        return []
    problems = []
    if document.get("capacity") in SPOT_CAPACITIES:
        problems.append(Problem("/capacity", SPOT_ON_ARM64))
    for index, stage in enumerate(document.get("stages") or []):
        if isinstance(stage, dict) and stage.get("capacity") in SPOT_CAPACITIES:
            problems.append(Problem(f"/stages/{index}/capacity", SPOT_ON_ARM64))
    return problems


def check(document: Any, architecture: str | None = None) -> list[Problem]:
    """All problems of a document, sorted by pointer; empty when it is valid. With the
    stack's ``architecture``, also what its tasks cannot do (Spot on ARM64).

    The schema and the rules a schema cannot say come first; a document that passes them
    is planned, and its plan checked against ECS's and Step Functions' quotas, so that no
    run can fail half-way on a limit (see docs/aws-facts.md)."""
    problems = [p for e in _validator().iter_errors(document) for p in _describe(e)]
    if not isinstance(document, dict):
        return sorted(set(problems))
    problems.extend(document_problems(document))
    problems.extend(capacity_problems(document, architecture))
    stages = document.get("stages")
    if isinstance(stages, list):
        seen: dict[str, int] = {}
        for index, stage in enumerate(stages):
            if isinstance(stage, dict):
                problems.extend(_stage_rules(index, stage, seen))
    if isinstance(stages, list):
        problems.extend(exit_code_problems(stages))
    if problems:
        return sorted(set(problems))
    plan = worst_plan(document)  # planned once, for both checks
    problems.extend(oversized_tasks(plan))
    if not problems:
        problems.extend(quota_problems(document, plan))
    return sorted(set(problems))
