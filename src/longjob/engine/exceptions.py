"""Errors of the local engine. The CLI maps them to messages and exit codes."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


class EngineError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""


class InvalidDefinition(EngineError):
    """The state machine definition is not valid ASL (exit code 2)."""


class InvalidInput(EngineError):
    """The execution input or a substitution is not usable (exit code 2)."""


class RuntimeUnavailable(EngineError):
    """The requested task runtime (podman, docker, an image) is not available here."""


class ImageNotFound(Exception):
    """The task's image is not in the container engine's storage (as a tag missing from
    the repository: the task stops with CannotPullContainerError)."""

    def __init__(self, image: str) -> None:
        super().__init__(image)
        self.image = image


class EcsApiError(ClientError):
    """An ECS API error as botocore raises it, so the engine names it like AWS does."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(
            {
                "Error": {"Code": code, "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "local"},
            },
            "RunTask",
        )


class RunTaskFailures(Exception):
    """RunTask answered with a non-empty ``failures`` list and no task."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__(f"RunTask failures: {response['failures']}")
        self.response = response
