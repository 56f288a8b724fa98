"""Step Functions' rule for execution names (docs/aws-facts.md): 1-80 characters, none of
whitespace, brackets, wildcards, the listed special characters or control characters."""

from __future__ import annotations

import re

from longjob_core.limits import EXECUTION_NAME_CHARS

_FORBIDDEN = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")


def execution_name_problem(name: str) -> str | None:
    """Why Step Functions would refuse this execution name, or None."""
    if not 1 <= len(name) <= EXECUTION_NAME_CHARS:
        return f"must be 1-{EXECUTION_NAME_CHARS} characters"
    bad = _FORBIDDEN.search(name)
    if bad:
        return (
            f"must not contain {bad.group()!r} (no whitespace, brackets, wildcards, "
            'control characters or any of " # % \\ ^ | ~ ` $ & , ; : /)'
        )
    return None
