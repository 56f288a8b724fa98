"""`longjob validate` and `longjob plan`: what a job document says, checked and planned
offline (no AWS, no engine)."""

from __future__ import annotations

import json
import sys

import click
from longjob_core.contract import EXIT_INVALID

from longjob.errors import UserError


@click.command()
@click.argument("documents", nargs=-1, required=True, metavar="JOB.json...")
def validate(documents: tuple[str, ...]) -> None:
    """Check job documents; list every problem (JSON pointer: rule). Exit 2 if any."""
    from longjob.job_files import InvalidDocument, load_job

    failed = False
    for path in documents:
        try:
            document = load_job(path)
        except InvalidDocument as error:
            click.echo(str(error), err=True)
            failed = True
            continue
        except UserError as error:
            click.echo(str(error), err=True)
            failed = True
            continue
        stages = len(document["stages"])
        tasks = sum(len(s.get("forEach", [None])) for s in document["stages"])
        click.echo(f"{path}: valid ({stages} stage{'s' * (stages != 1)}, {tasks} task(s))")
    if failed:
        sys.exit(EXIT_INVALID)


@click.command()
@click.argument("document_path", metavar="JOB.json")
@click.option("--json", "as_json", is_flag=True, help="Print the plan prepare_job would return.")
def plan(document_path: str, as_json: bool) -> None:
    """Show what a job would run: stages, tasks, commands, sizes, timeouts, attempts, and
    the worst-case use of each AWS quota the run must fit."""
    from longjob_core.planning import expand_stage, make_plan
    from longjob_core.quotas import estimates

    from longjob.job_files import load_job

    document = load_job(document_path)
    the_plan = make_plan(document, execution_name="<execution>")
    quotas = estimates(document)
    if as_json:
        the_plan["quotas"] = [
            {"what": e.what, "estimate": e.value, "limit": e.limit, "unit": e.unit} for e in quotas
        ]
        click.echo(json.dumps(the_plan, indent=2))
        return
    click.echo(
        f"job {the_plan['job']}: {len(the_plan['stages'])} stage(s), "
        f"timeout {the_plan['timeoutSeconds']}s, concurrency {the_plan['concurrency']}, "
        f"notify {the_plan['notify']}"
    )
    for index, stage in enumerate(the_plan["stages"], start=1):
        flags = [f"on failure: {stage['onFailure']}"]
        if stage["always"]:
            flags.append("always runs")
        tasks = expand_stage(stage)
        if len(tasks) > 1:
            flags.append(f"{len(tasks)} tasks, {stage['maxConcurrency']} at a time")
        click.echo(f"\n{index}. {stage['name']}  ({', '.join(flags)})")
        resources = stage["resources"]
        for task in tasks:
            size = (
                f"cpu {resources['Cpu']} / memory {resources['Memory']} MiB"
                if resources
                else "task definition size"
            )
            command = " ".join(json.dumps(a) if " " in a or not a else a for a in task["command"])
            click.echo(f"   {task['label']}: {command}")
            click.echo(
                f"      {size}; timeout {stage['timeoutSeconds']}s per attempt; "
                f"{stage['maxAttempts']} attempt(s)"
            )
            user_env = [e for e in task["environment"] if not e["Name"].startswith("LONGJOB_")]
            for variable in user_env:
                click.echo(f"      {variable['Name']}={variable['Value']}")
    click.echo("\nquotas (worst case: every task fails every attempt):")
    width = max(len(e.what) for e in quotas)
    for estimate in quotas:
        click.echo(
            f"   {estimate.what.ljust(width)}  {estimate.value:>9,} of {estimate.limit:>9,} "
            f"{estimate.unit}"
        )
