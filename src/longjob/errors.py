"""Errors of the longjob CLI: each is one clear message and an exit code, never a traceback."""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_INVALID = 2


class UserError(Exception):
    """Something the user can fix: a bad document, file or option."""

    exit_code = EXIT_INVALID
    # Messages that already start with what they are about (a file path) need no prefix.
    prefixed = True


class TemplateError(UserError):
    """template.yaml is missing or lacks what a local run needs."""
