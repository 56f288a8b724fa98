"""A problem of a job document: where (a JSON pointer) and which rule it breaks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class Problem:
    pointer: str
    rule: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.rule}"


def pointer(path: list[Any] | tuple[Any, ...]) -> str:
    """RFC 6901 JSON pointer of a path."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)
