"""Errors of longjob_core."""

from __future__ import annotations

from longjob_core.problems import Problem


class InvalidJobDocument(Exception):
    """The job document breaks job document v1. The Lambda runtime reports the class name
    as the error, so the state machine sees `InvalidJobDocument`."""

    # The message becomes the failed execution's cause (at most 32,768 characters): the
    # first problems are listed, the rest counted.
    LISTED = 50

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        listed = [str(p)[:500] for p in problems[: self.LISTED]]
        if len(problems) > self.LISTED:
            listed.append(f"and {len(problems) - self.LISTED} more")
        super().__init__(f"invalid job document ({count}): " + "; ".join(listed))
