"""The ``longjob`` command line. Later issues add validate, plan, run, start, watch..."""

from __future__ import annotations

import click

from longjob import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="longjob")
def main() -> None:
    """Run long, multi-stage maintenance jobs on AWS Fargate, chained by Step Functions."""
