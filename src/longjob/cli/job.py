"""`longjob validate` and `longjob plan`: what a job document says, checked and planned
offline (no AWS, no engine)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from longjob_core.contract import APPROVAL_MODE, EXIT_INVALID

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
        tasks = sum(
            len(s.get("forEach", [None])) for s in document["stages"] if "approval" not in s
        )
        click.echo(f"{path}: valid ({stages} stage{'s' * (stages != 1)}, {tasks} task(s))")
    if failed:
        sys.exit(EXIT_INVALID)


def cost_bound(plan: dict[str, Any], region: str, parameters: tuple[str, ...]) -> dict[str, Any]:
    """The plan's cost bound, with the sizes and prices of the stack this folder deploys
    (template.yaml's defaults, samconfig.toml's overrides, then ``--parameter``)."""
    from pathlib import Path

    from longjob_core.cost import PriceError, TaskSize, parse_overrides, plan_bound, prices_for

    from longjob.cli.options import pairs
    from longjob.stack.application import stack_parameters
    from longjob.stack.template import TemplateError

    overrides = pairs(parameters, "--parameter")
    try:
        if (Path.cwd() / "template.yaml").is_file():
            values = stack_parameters(Path.cwd(), overrides)
        else:  # not in a project: longjob's template defaults, and the options
            values = overrides
        prices = prices_for(region, parse_overrides(values.get("PriceOverrides")))
    except (TemplateError, PriceError) as error:
        raise UserError(str(error)) from None
    size = TaskSize(
        architecture=values.get("CpuArchitecture", TaskSize.architecture),
        cpu=int(values.get("TaskCpu", TaskSize.cpu)),
        memory=int(values.get("TaskMemory", TaskSize.memory)),
        storage_gib=int(values.get("EphemeralStorageGiB", TaskSize.storage_gib)),
    )
    return plan_bound(plan, prices, size)


COST_BOUND_HEADING = (
    "\ncost bound (every task uses every attempt to its time limit, priced on demand):"
)


@click.command()
@click.argument("document_path", metavar="JOB.json")
@click.option("--json", "as_json", is_flag=True, help="Print the plan prepare_job would return.")
@click.option(
    "--region",
    envvar="AWS_REGION",
    default="us-east-1",
    show_default=True,
    help="Region whose prices bound the cost (or AWS_REGION).",
)
@click.option(
    "--parameter",
    "parameters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Template parameter for the cost bound (task size, architecture, PriceOverrides).",
)
def plan(document_path: str, as_json: bool, region: str, parameters: tuple[str, ...]) -> None:
    """Show what a job would run: stages, tasks, commands, sizes, timeouts, attempts, the
    worst-case use of each AWS quota the run must fit, and the most it can cost."""
    from longjob_core.cost import cost_line, usd
    from longjob_core.planning import expand_stage, make_plan
    from longjob_core.quotas import estimates

    from longjob.job_files import load_job

    document = load_job(document_path)
    the_plan = make_plan(document, execution_name="<execution>")
    quotas = estimates(document)
    bound = cost_bound(the_plan, region, parameters)
    if as_json:
        the_plan["quotas"] = [
            {"what": e.what, "estimate": e.value, "limit": e.limit, "unit": e.unit} for e in quotas
        ]
        the_plan["costBound"] = bound
        click.echo(json.dumps(the_plan, indent=2))
        return
    click.echo(
        f"job {the_plan['job']}: {len(the_plan['stages'])} stage(s), "
        f"timeout {the_plan['timeoutSeconds']}s, concurrency {the_plan['concurrency']}, "
        f"notify {the_plan['notify']}"
    )
    for index, stage in enumerate(the_plan["stages"], start=1):
        if stage["mode"] == APPROVAL_MODE:
            who = f"; approvers: {stage['approvers']}" if stage["approvers"] else ""
            click.echo(f"\n{index}. {stage['name']}  (approval: no task)")
            click.echo(f"   asks: {stage['message']}")
            click.echo(f"   waits at most {stage['timeoutSeconds']}s for an answer{who}")
            continue
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
    click.echo(COST_BOUND_HEADING)
    for planned, stage in zip(the_plan["stages"], bound["stages"], strict=True):
        if stage["taskSeconds"] is None:
            click.echo(
                f"   {stage['name']}: no bound (forEachFrom: its items are read at run time)"
            )
            continue
        if planned["mode"] == APPROVAL_MODE:
            click.echo(f"   {stage['name']}: approval, no task")
            continue
        seconds = f"{stage['taskSeconds']:,} task-seconds"
        click.echo(f"   {stage['name']}: at most {usd(stage['usd'])} ({seconds})")
    click.echo("   " + cost_line(bound).replace("cost (estimate", "at most (bound", 1))
