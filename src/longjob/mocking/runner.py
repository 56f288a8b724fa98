"""Test cases of mock configuration files, run on the local engine: the Python API.

    from longjob.mocking import run_test_case

    result = run_test_case("tests/statemachine/job.mock.json", "RetriedThenSucceeds",
                           definition="statemachine/job.asl.json", execution_input={...})
    assert result.status == "SUCCEEDED"
    assert "Back off" in result.states

A mocked Task state gets its responses from the file; any other Task state runs for real, as
`longjob run --definition` runs it (a Lambda's handler in-process, an ECS task as a process).
:class:`MockRunner` keeps one engine for many cases, which start together.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longjob.mocking.config import MockConfig, load_mock_config


@dataclass
class CaseResult:
    """What one test case's execution did."""

    state_machine: str
    test_case: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]
    states: list[str]  # every state entered, nested ones too, in history order
    child_states: list[str]  # the states Distributed Map children entered (their own histories)
    duration: float | None
    execution_arn: str
    tasks: list[Any] = field(default_factory=list)  # the tasks that ran for real
    timed_out: bool = False  # stopped because result()'s timeout passed

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


def state_types(definition: dict[str, Any]) -> dict[str, str]:
    """Every state of a definition (inside Map and Parallel states too) -> its Type."""
    found: dict[str, str] = {}
    for name, state in definition.get("States", {}).items():
        found[name] = state.get("Type", "?")
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if isinstance(processor, dict):
            found.update(state_types(processor))
        for branch in state.get("Branches") or []:
            found.update(state_types(branch))
    return found


def check_mocked_states(
    config: MockConfig,
    machine: str,
    definition: str,
    substitutions: dict[str, str] | None,
    definition_name: str,
) -> None:
    """MockConfigError when the file mocks, for ``machine``, a state the definition lacks or
    one that is not a Task. A definition that is not JSON passes: the engine names that."""
    from longjob.engine.local_engine import substitute

    try:
        parsed = json.loads(substitute(definition, substitutions or {}))
    except json.JSONDecodeError:
        parsed = {}
    config.check_states(
        machine, state_types(parsed if isinstance(parsed, dict) else {}), definition_name
    )


def states_entered(history: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in history if e["type"].endswith("StateEntered") and "name" in e]


def child_states_entered(history: list[dict[str, Any]]) -> list[str]:
    """What the child executions of the run's Distributed Maps entered, by name."""
    from longjob.engine.patches.distributed_map import children

    names: set[str] = set()
    for event in history:
        if event["type"] == "MapRunStarted" and "mapRunArn" in event:
            for child in children(event["mapRunArn"]):
                names |= child.states
    return sorted(names)


class MockRunner:
    """One local engine that runs test cases of mock configuration files."""

    def __init__(
        self,
        project: Path | str = ".",
        functions: dict[str, Any] | None = None,
        runtime: str = "process",
        image: str | None = None,
    ) -> None:
        from longjob.containers import DEFAULT_IMAGE
        from longjob.engine.exceptions import RuntimeUnavailable
        from longjob.engine.launchers import Launcher, UnavailableLauncher, make_launcher
        from longjob.engine.local_engine import LocalEngine

        project = Path(project)
        launcher: Launcher
        try:
            launcher = make_launcher(runtime, project, image or DEFAULT_IMAGE)
        except RuntimeUnavailable as error:
            # Mocked ECS tasks need no runtime; an unmocked one fails to start, saying why.
            launcher = UnavailableLauncher(f"no task runtime for an unmocked task: {error}")
        self.engine = LocalEngine(project, launcher, functions=dict(functions or {}))
        self._starts: dict[str, tuple[str, str]] = {}

    def __enter__(self) -> MockRunner:
        self.engine.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.__exit__(*exc)

    def put_objects(self, objects: dict[str, Any]) -> None:
        """Puts ``{"s3://bucket/key": value}`` into the engine's S3 (a string as its text,
        anything else as JSON) and makes the buckets: what a case's unmocked states read, a
        Distributed Map's ItemReader for one."""
        s3 = self.engine.aws_client("s3")
        made = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for uri, value in objects.items():
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            if bucket not in made:
                s3.create_bucket(Bucket=bucket)
                made.add(bucket)
            # A string is the object's text (a CSV file); anything else is stored as JSON.
            body = value if isinstance(value, str) else json.dumps(value)
            s3.put_object(Bucket=bucket, Key=key, Body=body.encode())

    def start(
        self,
        config: MockConfig,
        state_machine: str,
        test_case: str,
        definition: str,
        execution_input: Any = None,
        substitutions: dict[str, str] | None = None,
        definition_name: str = "the definition",
    ) -> str:
        """Starts one case and returns its execution ARN; MockConfigError when the file
        mocks a state the definition lacks."""
        if test_case not in config.cases(state_machine):
            from longjob.mocking.config import MockConfigError

            raise MockConfigError(
                [f"{config.path}: no test case {test_case!r} for state machine {state_machine!r}"]
            )
        check_mocked_states(config, state_machine, definition, substitutions, definition_name)
        arn = self.engine.start(
            definition,
            {} if execution_input is None else execution_input,
            substitutions,
            name=execution_name(test_case),
            test_case=test_case,
            machine_name=state_machine,
            mock_config=config,
        )
        self._starts[arn] = (state_machine, test_case)
        return arn

    def result(self, arn: str, timeout: float | None = None) -> CaseResult:
        """Waits for a started case to end; after ``timeout`` seconds it is stopped
        (ABORTED, its cause says why)."""
        run = self.engine.wait(arn, timeout)
        machine, case = self._starts[arn]
        return CaseResult(
            state_machine=machine,
            test_case=case,
            status=run.status,
            output=run.output,
            error=run.error,
            cause=run.cause,
            history=run.history,
            states=states_entered(run.history),
            child_states=child_states_entered(run.history),
            duration=run.duration,
            execution_arn=arn,
            tasks=run.tasks,
            timed_out=run.timed_out,
        )

    def stop_all(self, arns: Any) -> None:
        """Stops the cases still running (Ctrl-C): their tasks stop with them."""
        import contextlib

        for arn in arns:
            with contextlib.suppress(Exception):
                self.engine.sfn.stop_execution(executionArn=arn, cause="Interrupted (SIGINT)")
        for arn in self._starts:
            with contextlib.suppress(Exception):
                self.engine.wait(arn, 60)

    def run(self, *args: Any, **kwargs: Any) -> CaseResult:
        """:meth:`start`, then :meth:`result`."""
        return self.result(self.start(*args, **kwargs))


def run_test_case(
    mock_config: str | Path | MockConfig,
    test_case: str,
    definition: str | Path,
    *,
    state_machine: str | None = None,
    execution_input: Any = None,
    substitutions: dict[str, str] | None = None,
    project: str | Path = ".",
    functions: dict[str, Any] | None = None,
) -> CaseResult:
    """Runs one test case of a mock configuration file on a definition (a path to its ASL
    file) and returns what it did. ``state_machine`` may be left out when the file names one
    state machine only."""
    config = mock_config if isinstance(mock_config, MockConfig) else load_mock_config(mock_config)
    machine = state_machine or only_state_machine(config)
    path = Path(definition)
    with MockRunner(project, functions) as runner:
        return runner.run(
            config,
            machine,
            test_case,
            path.read_text(),
            execution_input,
            substitutions,
            definition_name=str(path),
        )


def execution_name(test_case: str) -> str:
    """A valid, unique execution name that shows the case (AWS puts the case in the ARN's
    suffix only, so any case name is allowed)."""
    readable = re.sub(r"[^0-9A-Za-z_-]+", "-", test_case).strip("-")[:60] or "case"
    return f"{readable}-{uuid.uuid4().hex[:8]}"


def only_state_machine(config: MockConfig) -> str:
    from longjob.mocking.config import MockConfigError

    names = list(config.state_machines)
    if len(names) != 1:
        raise MockConfigError(
            [
                f"{config.path}: names {len(names)} state machines "
                f"({', '.join(names) or 'none'}); say which with --state-machine"
            ]
        )
    return names[0]
