"""The ``longjob`` command line: one click group, one module per command family.

- job.py      validate, plan    (a job document, offline)
- run.py      run               (a job, or any definition, on this machine)
- mock_tests.py  test           (AWS mock configuration files' test cases, on this machine)
- local.py    local up/down/env/tick  (the stack as a local AWS endpoint)
- operate.py  start, watch, logs, status, history, stop, redrive, approve   (a stack)

A UserError raised by any command becomes its message and its exit code here, once.
"""

from __future__ import annotations

from typing import Any

import click

from longjob import __version__
from longjob.cli.job import plan, validate
from longjob.cli.local import local
from longjob.cli.mock_tests import test
from longjob.cli.operate import approve, history, logs, redrive, start, status, stop, watch
from longjob.cli.run import run
from longjob.errors import UserError


class CommandFailed(click.ClickException):
    """A UserError, shown as click shows its own errors: one line, its exit code."""

    def __init__(self, error: UserError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code
        self.prefixed = error.prefixed

    def show(self, file: Any = None) -> None:
        click.echo(f"longjob: {self.message}" if self.prefixed else self.message, err=True)


class LongjobGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as error:
            raise CommandFailed(error) from None


@click.group(cls=LongjobGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="longjob")
def main() -> None:
    """Run long, multi-stage maintenance jobs on AWS Fargate, chained by Step Functions."""


for _command in (
    validate,
    plan,
    run,
    test,
    local,
    start,
    watch,
    logs,
    status,
    history,
    stop,
    redrive,
    approve,
):
    main.add_command(_command)
