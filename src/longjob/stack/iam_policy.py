"""Would AWS allow a request under a set of identity-policy statements?

AWS's documented evaluation logic, for the policy features this project's template uses
(docs/aws-facts.md, "IAM policy evaluation"):

- an explicit Deny wins over any Allow; no matching Allow is an implicit deny;
- ``Action``/``NotAction`` match case-insensitively, ``Resource``/``NotResource``
  case-sensitively, both with the ``*`` and ``?`` wildcards;
- ``Condition``: every operator block must hold, every key in a block must hold, and a key
  holds when the request's value matches any of the policy's values. A key missing from the
  request fails a positive operator and passes a negated one (``...IfExists`` passes both).

Operators outside the ones implemented here, and policy variables, raise
UnsupportedPolicy: an evaluator that guessed would let a wrong policy pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

Decision = Literal["Allow", "ExplicitDeny", "ImplicitDeny"]


class UnsupportedPolicy(Exception):
    """The policy uses a feature this evaluator does not implement."""


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, str | list[str]] = field(default_factory=dict)


@cache
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    if "${" in pattern:
        raise UnsupportedPolicy(f"policy variables are not supported: {pattern!r}")
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches_any(patterns: Any, value: str, ignore_case: bool) -> bool:
    return any(_glob(str(p), ignore_case).match(value) for p in _listed(patterns))


def _arn_like(pattern: str, arn: str) -> bool:
    """ArnLike: each of the six ARN components matched on its own, wildcards allowed."""
    wanted, actual = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(actual) != 6:
        return False
    return all(_glob(w, False).match(a) for w, a in zip(wanted, actual, strict=True))


_COMPARE: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, got: want == got,
    "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringLike": lambda want, got: bool(_glob(want, False).match(got)),
    "ArnEquals": _arn_like,  # AWS documents ArnEquals and ArnLike as the same test
    "ArnLike": _arn_like,
    "Bool": lambda want, got: want.lower() == got.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, Any]) -> bool:
    if operator.startswith(("ForAnyValue:", "ForAllValues:")):
        # A multivalued key, each value tested on its own. ForAllValues also holds when the
        # request has no such key (IAM's documented rule: the reason a statement using it
        # must not allow an action that carries no value, such as DynamoDB's Scan).
        qualifier, single = operator.split(":", 1)
        if single.startswith(("ForAnyValue:", "ForAllValues:")) or single == "Null":
            raise UnsupportedPolicy(f"condition operator {operator} is not supported")
        got = _context_value(context, key)
        results = [
            _condition_holds(single, key, wanted, {key: value})
            for value in ([] if got is None else _listed(got))
        ]
        return all(results) if qualifier == "ForAllValues" else any(results)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    negated = base in _NEGATED
    compare = _COMPARE.get(_NEGATED.get(base, base))
    if base == "Null":
        present = _context_value(context, key) is not None
        return all(str(w).lower() == ("false" if present else "true") for w in _listed(wanted))
    if compare is None:
        raise UnsupportedPolicy(f"condition operator {operator} is not supported")
    got = _context_value(context, key)
    if got is None:
        return if_exists or negated
    values = [str(g) for g in _listed(got)]
    matched = any(compare(str(w), g) for w in _listed(wanted) for g in values)
    return not matched if negated else matched


def _context_value(context: Mapping[str, Any], key: str) -> Any:
    # Condition keys are case-insensitive.
    for name, value in context.items():
        if name.lower() == key.lower():
            return value
    return None


def _element_applies(
    statement: Mapping[str, Any], element: str, value: str, ignore_case: bool
) -> bool:
    """``Action``/``Resource`` must match the value; ``NotAction``/``NotResource`` must not."""
    if element in statement:
        return _matches_any(statement[element], value, ignore_case)
    negated = f"Not{element}"
    return negated in statement and not _matches_any(statement[negated], value, ignore_case)


def statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    if not _element_applies(statement, "Action", request.action, ignore_case=True):
        return False
    if not _element_applies(statement, "Resource", request.resource, ignore_case=False):
        return False
    for operator, block in (statement.get("Condition") or {}).items():
        for key, wanted in block.items():
            if not _condition_holds(operator, key, wanted, request.context):
                return False
    return True


def decide(statements: Iterable[Mapping[str, Any]], request: Request) -> Decision:
    allowed = False
    for statement in statements:
        if not statement_applies(statement, request):
            continue
        if statement.get("Effect") == "Deny":
            return "ExplicitDeny"
        if statement.get("Effect") == "Allow":
            allowed = True
    return "Allow" if allowed else "ImplicitDeny"


def allows(
    statements: Iterable[Mapping[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, str | list[str]] | None = None,
) -> bool:
    return decide(statements, Request(action, resource, context or {})) == "Allow"
