"""Errors of the longjob CLI: each is one clear message and an exit code, never a traceback."""

from __future__ import annotations

from longjob_core.contract import EXIT_INVALID


class UserError(Exception):
    """Something the user can fix: a bad document, file or option."""

    exit_code = EXIT_INVALID
    # Messages that already start with what they are about (a file path) need no prefix.
    prefixed = True


class TemplateError(UserError):
    """template.yaml is missing or lacks what a local run needs."""


class RunInterrupted(BaseException):  # like KeyboardInterrupt: not an Exception
    """The command running or following an execution got SIGTERM or SIGHUP: stop the run as
    Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
