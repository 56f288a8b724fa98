"""Reading job documents for the CLI: JSON errors and schema problems as UserErrors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from longjob.errors import UserError


class InvalidDocument(UserError):
    prefixed = False

    def __init__(self, path: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


def read_json(path: str) -> Any:
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise UserError(f"{path}: {error.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(
            f"{path}: not JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None


def load_job(path: str) -> dict[str, Any]:
    """A valid job document, or InvalidDocument listing every problem."""
    # Here, not at import: the schema and its validator are not needed to read a
    # definition or a secrets file (`run --definition` starts faster without them).
    from longjob_core.validation import check

    document = read_json(path)
    problems = check(document)
    if problems:
        raise InvalidDocument(path, [str(p) for p in problems])
    return document
