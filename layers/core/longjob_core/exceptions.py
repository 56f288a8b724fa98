"""Errors of longjob_core."""

from __future__ import annotations

from longjob_core.validation import Problem


class InvalidJobDocument(Exception):
    """The job document breaks job document v1. The Lambda runtime reports the class name
    as the error, so the state machine sees `InvalidJobDocument`."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"invalid job document ({count}): " + "; ".join(map(str, problems)))
