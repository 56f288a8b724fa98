"""What several commands share: stack options, --follow, a document checked while the
command line is parsed, KEY=VALUE pairs, and signals that stop a run as Ctrl-C does."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import signal
from collections.abc import Callable, Iterator
from typing import Any

import click
from longjob_core.contract import EXIT_INVALID

from longjob.errors import RunInterrupted, UserError
from longjob.stack.deployed import Aws

# `--stack local`: the stack `longjob local up` serves from the current folder.
LOCAL = "local"


def say(line: str) -> None:
    click.echo(line)


def say_on_stderr(line: str) -> None:
    """With --json, stdout carries the document alone: progress goes to stderr."""
    click.echo(line, err=True)


def stack_options(command: Callable[..., Any]) -> Callable[..., Any]:
    @click.option(
        "--stack",
        "stack_name",
        envvar="LONGJOB_STACK",
        required=True,
        help="The deployed longjob stack (or LONGJOB_STACK); `local`: the one `longjob local "
        "up` serves from this folder.",
    )
    @click.option("--profile", default=None, help="AWS profile (default: the usual boto3 chain).")
    @click.option("--region", default=None, help="AWS region (default: the profile's).")
    @functools.wraps(command)
    def wrapper(stack_name: str, profile: str | None, region: str | None, **kwargs: Any) -> Any:
        if stack_name == LOCAL:
            from pathlib import Path

            from longjob.stack.server import ServerInfo

            info = ServerInfo.load(Path.cwd())
            aws = Aws(
                region=info.region,
                endpoint=info.endpoint,
                credentials=(info.access_key_id, info.secret_access_key),
            )
            # Named as the commands take it: what they print (`longjob approve ... --stack
            # local`) can be run as it is.
            stack = dataclasses.replace(aws.stack(info.stack_name), name=LOCAL)
            return command(aws=aws, stack=stack, **kwargs)
        aws = Aws(profile, region)
        return command(aws=aws, stack=aws.stack(stack_name), **kwargs)

    return wrapper


def local_stack_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--parameter, --secrets, --runtime and --image: the stack as it runs on this machine
    (`run` and `local up`)."""
    options = [
        click.option(
            "--parameter",
            "parameters",
            multiple=True,
            metavar="KEY=VALUE",
            help="Template parameter (repeatable; overrides samconfig.toml's default).",
        ),
        click.option(
            "--secrets",
            "secrets_path",
            type=click.Path(exists=True, dir_okay=False),
            help="Seed the local SSM / Secrets Manager: "
            '{"ssm:/path": "value", "secretsmanager:name": …}.',
        ),
        click.option(
            "--runtime",
            type=click.Choice(["process", "podman", "docker"]),
            default="process",
            show_default=True,
            help="How ECS tasks run: the project's entrypoint as a process, or its image.",
        ),
        click.option("--image", default=None, help="Toolbox image for --runtime podman|docker."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def function_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--function NAME=HANDLER: a Lambda function served by the project's code."""
    return click.option(
        "--function",
        "functions",
        multiple=True,
        metavar="NAME=HANDLER",
        help="Lambda function NAME (or ARN) served by HANDLER: module:function or "
        "file.py:function.",
    )(command)


def follow_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--follow and --poll, for the commands that start a run."""
    command = click.option(
        "--poll",
        type=click.FloatRange(min=0.1),
        default=2.0,
        show_default=True,
        help="With --follow: seconds between history reads.",
    )(command)
    return click.option("--follow", is_flag=True, help="Watch the run and exit with its code.")(
        command
    )


class DocumentRefused(click.ClickException):
    """A job document that cannot run: its problems, exit 2, before anything starts."""

    exit_code = EXIT_INVALID

    def show(self, file: Any = None) -> None:
        click.echo(self.message, err=True)


def valid_document(_ctx: click.Context, _param: click.Parameter, path: str | None) -> Any:
    """Reads and checks the document while the command line is parsed: a bad document is
    refused offline, before a stack is looked up or anything starts."""
    if path is None:
        return None
    from longjob.job_files import load_job

    try:
        return load_job(path)
    except UserError as error:
        raise DocumentRefused(str(error)) from None


def pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    found = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", param_hint=option)
        found[key] = rest
    return found


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP stop a local run the way Ctrl-C does (tasks stopped, containers
    removed, execution ABORTED) instead of killing this process and orphaning its tasks."""

    def interrupt(signum: int, _frame: object) -> None:
        raise RunInterrupted(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
