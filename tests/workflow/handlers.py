"""Lambda handlers used by the workflow tests."""

from __future__ import annotations

from typing import Any


class InvalidJobDocument(Exception):
    """Raised on purpose: the function's way to fail the state with a named error."""


def double(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"doubled": event["value"] * 2, "function": context.function_name}


def refuse(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise InvalidJobDocument("/stages/0/run/1: must not contain '..'")


def crash(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return event["missing"]


def environment(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """What a function sees of its environment variables."""
    import os

    return {name: os.environ.get(name) for name in event["names"]}
