"""`longjob test`: every test case of AWS mock configuration files, on the local engine.

One line per case (result, status, duration, the states entered), a diff under a case that
misses its expectations, and exit 0 (all met), 1 (one missed, or failed to run) or 2 (a file
is invalid). ``--junit FILE`` writes the same as JUnit XML for CI systems.
"""

from __future__ import annotations

import os
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from longjob_core.contract import EXIT_FAILED, EXIT_INVALID, EXIT_SUCCEEDED
from longjob_core.summary import align, human_duration

from longjob.cli.options import function_option, pairs, say
from longjob.errors import UserError

# Folders a search for mock files never enters: tools' and runs' own trees.
SKIPPED_FOLDERS = {".git", ".venv", ".longjob", ".aws-sam", "node_modules", "__pycache__"}
PATH_WIDTH = 160


# A case whose expectations say nothing of its status is expected to succeed.
DEFAULT_EXPECTATION = {"status": "SUCCEEDED"}
DEFAULT_TIMEOUT = 600.0


@dataclass
class Outcome:
    file: Path
    machine: str
    case: str
    expected: dict[str, Any]
    result: Any = None  # a CaseResult, None when the case could not start
    problems: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "FAIL" if self.problems else "PASS"


def find_mock_files(project: Path) -> list[Path]:
    """``*.mock.json`` and ``MockConfigFile.json`` under the project."""
    found = []
    for folder, folders, files in os.walk(project):
        folders[:] = sorted(f for f in folders if f not in SKIPPED_FOLDERS)
        for name in sorted(files):
            if name.endswith(".mock.json") or name == "MockConfigFile.json":
                found.append(Path(folder) / name)
    return found


def states_path(states: list[str]) -> str:
    """``A → B x3 → C``: the states entered, repeats folded, cut to a line."""
    folded: list[list[Any]] = []
    for state in states:
        if folded and folded[-1][0] == state:
            folded[-1][1] += 1
        else:
            folded.append([state, 1])
    text = " → ".join(name if n == 1 else f"{name} x{n}" for name, n in folded)
    return text if len(text) <= PATH_WIDTH else text[: PATH_WIDTH - 1] + "…"


@click.command("test")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--state-machine",
    "machines",
    multiple=True,
    metavar="NAME=PATH",
    help="The definition of state machine NAME (repeatable; default: the expectations' "
    "'definition', or statemachine/NAME.asl.json).",
)
@function_option
@click.option("--case", "only", multiple=True, help="Run only this test case (repeatable).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds a case may run; then it is stopped and fails.",
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the results as JUnit XML to this file.",
)
@click.option(
    "--project",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("."),
    help="Project folder (template.yaml, statemachine/); default: the current directory.",
)
def test(
    files: tuple[Path, ...],
    machines: tuple[str, ...],
    functions: tuple[str, ...],
    only: tuple[str, ...],
    timeout: float,
    junit_path: Path | None,
    project: Path,
) -> None:
    """Run every test case of mock configuration files (AWS's MockConfigFile format) on the
    local engine: mocked Task states answer from the file, the others run for real.

    FILES default to every *.mock.json and MockConfigFile.json under the project. Inputs and
    expectations come from <name>.expect.json beside each file. Exit 0 when every case meets
    its expectations, 1 otherwise, 2 when a file is invalid."""
    from longjob.mocking.suite import load_suite

    paths = list(files) or find_mock_files(project)
    if not paths:
        say(f"no *.mock.json or MockConfigFile.json under {project}")
        raise SystemExit(EXIT_INVALID)
    if junit_path is not None and not junit_path.resolve().parent.is_dir():
        raise UserError(f"--junit {junit_path}: its folder does not exist")
    overrides = pairs(machines, "--state-machine")
    suites = [load_suite(path, project, overrides) for path in paths]
    unknown = sorted(set(only) - {c.name for suite in suites for c in suite.cases})
    if unknown:
        raise UserError(f"--case {', '.join(unknown)}: no such test case in {_names(paths)}")
    for suite in suites:
        suite.cases = [c for c in suite.cases if not only or c.name in only]
    began = time.monotonic()
    outcomes = run_suites(suites, project, pairs(functions, "--function"), timeout)
    report(outcomes, time.monotonic() - began)
    if junit_path is not None:
        write_junit(outcomes, junit_path)
    raise SystemExit(EXIT_FAILED if any(o.verdict == "FAIL" for o in outcomes) else EXIT_SUCCEEDED)


def _names(paths: list[Path]) -> str:
    return ", ".join(str(p) for p in paths)


def run_suites(
    suites: list[Any],
    project: Path,
    handlers: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Outcome]:
    """Every case of every suite on one engine; the cases start together (a Wait state in
    one does not hold up the others) and are collected in order. Ctrl-C stops them all."""
    from longjob.engine.exceptions import EngineError
    from longjob.engine.service_hooks import FunctionSpec
    from longjob.mocking.runner import MockRunner
    from longjob.mocking.suite import mismatches

    functions: dict[str, Any] = {}
    for suite in suites:
        for case in suite.cases:
            functions.update(case.machine.functions)
    functions.update({name: FunctionSpec(h) for name, h in (handlers or {}).items()})
    outcomes: list[Outcome] = []
    started: list[tuple[Outcome, str]] = []
    with MockRunner(project, functions) as runner:
        for suite in suites:
            runner.put_objects(suite.objects)
        for suite in suites:
            for case in suite.cases:
                expected = (
                    case.expected
                    if "status" in case.expected
                    else {
                        **DEFAULT_EXPECTATION,
                        **case.expected,
                    }
                )
                outcome = Outcome(suite.config.path, case.machine.name, case.name, expected)
                outcomes.append(outcome)
                try:
                    arn = runner.start(
                        suite.config,
                        case.machine.name,
                        case.name,
                        case.machine.definition,
                        case.input,
                        case.machine.substitutions,
                        definition_name=str(case.machine.definition_path),
                    )
                except EngineError as error:
                    outcome.problems.append(f"did not start: {error}")
                    continue
                started.append((outcome, arn))
        try:
            for outcome, arn in started:
                outcome.result = runner.result(arn, timeout)
                if outcome.result.timed_out:
                    outcome.problems.append(f"did not end within {timeout:g} s: stopped")
                outcome.problems += mismatches(outcome.expected, outcome.result)
        except KeyboardInterrupt:
            runner.stop_all(arn for _outcome, arn in started)
            raise
    return outcomes


def report(outcomes: list[Outcome], took: float) -> None:
    current: Path | None = None
    rows: list[tuple[str, ...]] = []
    details: dict[int, list[str]] = {}

    def flush() -> None:
        if not rows:
            return
        for index, line in enumerate(align(rows)):
            say("  " + line)
            for detail in details.get(index, []):
                say("        " + detail)
        rows.clear()
        details.clear()

    for outcome in outcomes:
        if outcome.file != current:
            flush()
            current = outcome.file
            say(f"{outcome.file}")
        result = outcome.result
        rows.append(
            (
                outcome.verdict,
                f"{outcome.machine}/{outcome.case}",
                result.status if result else "-",
                human_duration(result.duration) if result else "-",
                states_path(result.states) if result else "",
            )
        )
        if outcome.problems:
            details[len(rows) - 1] = outcome.problems
    flush()
    failed = sum(1 for o in outcomes if o.verdict == "FAIL")
    text = f"{len(outcomes)} cases: {len(outcomes) - failed} passed, {failed} failed"
    say(f"\n{text} ({took:.1f} s)")


def write_junit(outcomes: list[Outcome], path: Path) -> None:
    suites = ET.Element("testsuites")
    by_file: dict[Path, list[Outcome]] = {}
    for outcome in outcomes:
        by_file.setdefault(outcome.file, []).append(outcome)
    for file, members in by_file.items():
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=str(file),
            tests=str(len(members)),
            failures=str(sum(1 for o in members if o.verdict == "FAIL")),
            errors="0",
            time=f"{sum((o.result.duration or 0) if o.result else 0 for o in members):.3f}",
        )
        for outcome in members:
            element = ET.SubElement(
                suite,
                "testcase",
                classname=outcome.machine,
                name=outcome.case,
                time=f"{(outcome.result.duration or 0) if outcome.result else 0:.3f}",
            )
            if outcome.problems:
                failure = ET.SubElement(element, "failure", message=outcome.problems[0])
                failure.text = "\n".join(outcome.problems)
            if outcome.result is not None:
                out = ET.SubElement(element, "system-out")
                out.text = f"{outcome.result.status}: {' → '.join(outcome.result.states)}"
    ET.indent(suites)
    path.write_text(ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n")
