"""Fixtures of the workflow tests: a project with test scripts and one local engine."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from longjob_core.summary import summary_from

from longjob.containers import engine_command
from longjob.engine.launchers import ProcessLauncher
from longjob.engine.local_engine import LocalEngine, RunResult
from longjob.stack.application import LocalApplication, load_application
from tests.conftest import ROOT

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
SUBSTITUTIONS = {
    "Cluster": "longjob-local",
    "TaskDefinition": "longjob-toolbox",
    "DoubleFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:double",
    "CheckFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:check",
    "CrashFunctionArn": "crash",
    "TopicArn": "arn:aws:sns:us-east-1:123456789012:longjob-notifications",
}
FUNCTIONS = {
    "double": "tests.workflow.handlers:double",
    "check": "tests/workflow/handlers.py:refuse",
    "crash": "tests.workflow.handlers:crash",
}


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project (template, state machine, functions, toolbox) with the test
    scripts under container/scripts/t/."""
    root = tmp_path_factory.mktemp("project")
    for folder in ("container", "statemachine", "functions"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("template.yaml", "samconfig.toml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(HERE / "scripts", root / "container" / "scripts" / "t")
    return root


@pytest.fixture(scope="session")
def application(project: Path) -> LocalApplication:
    # Retries wait 1 s, 2 s... instead of 10 s, 20 s: same workflow, shorter tests.
    return load_application(project, {"RetryDelaySeconds": "1"})


# One engine per test module: an engine holds process-wide state (moto's mock, botocore
# hooks on boto3's default session) that other modules' tests must not see.
@pytest.fixture(scope="module")
def engine(project: Path, application: LocalApplication) -> Iterator[LocalEngine]:
    functions = {
        name: spec.replace("tests/", str(ROOT / "tests") + "/", 1) if ".py:" in spec else spec
        for name, spec in FUNCTIONS.items()
    }
    with LocalEngine(
        project,
        ProcessLauncher(project),
        functions={**functions, **application.functions},
        stop_timeout=2.0,
        # Task lines also go to the embedded CloudWatch Logs, as awslogs would send them.
        log_group=application.substitutions["LogGroupName"],
    ) as local:
        application.create_buckets(local.aws_client("s3"))
        application.create_tables(local.aws_client("dynamodb"))
        yield local


def job_summary(result: RunResult) -> dict[str, Any] | None:
    """The job's summary: the output of a succeeded run, the cause of a failed one."""
    return summary_from(result.output, result.cause)


@pytest.fixture
def run_job(engine: LocalEngine, application: LocalApplication):
    """Runs a job document on the project's state machine: (result, summary)."""

    def run(document: Any) -> tuple[RunResult, dict[str, Any] | None]:
        result = engine.run(application.definition, document, application.substitutions)
        return result, job_summary(result)

    return run


def run_on_local_stack(
    project: Path,
    launcher: Any,
    document: dict[str, Any],
    iam: bool = True,
    secrets: dict[str, str] | None = None,
) -> tuple[RunResult, dict[str, Any] | None, dict[str, Any]]:
    """Runs a job on the project's stack on this machine (the `longjob run` path): its
    result, summary and IAM report (by role name)."""
    from longjob.cli.operate import start_run
    from longjob.stack.local import LocalStack

    application = load_application(project, {"RetryDelaySeconds": "1"})
    with LocalStack(application, launcher, 5.0, secrets, iam=iam) as local:
        assert local.aws is not None
        assert local.stack is not None
        arn = start_run(local.aws, local.stack, document, f"{document['job']}-local")
        result = local.end(arn)
        report = {row["role"]: row for row in local.iam_report() or []}
    return result, job_summary(result), report


def scratch(project: Path, tmp_path: Path, edit: tuple[str, str] | None = None) -> Path:
    """A copy of the project, its template changed by one (old, new) edit."""
    copy = tmp_path / "project"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".longjob", "__pycache__"))
    if edit is not None:
        template = copy / "template.yaml"
        text = template.read_text()
        old, new = edit
        assert text.count(old) == 1, old
        template.write_text(text.replace(old, new))
    return copy


@pytest.fixture(scope="session")
def scripts_image(image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The toolbox image with these tests' scripts as t/, as local runs see them (built
    from it, offline)."""
    context = tmp_path_factory.mktemp("scripts-image")
    shutil.copytree(HERE / "scripts", context / "t")
    (context / "Containerfile").write_text(
        f"FROM {image}\nCOPY --chown=root:root --chmod=0755 t/ /usr/src/app/scripts/t/\n"
    )
    tag = image + "-scripts"
    build = subprocess.run(
        [*engine_command("podman"), "build", "-t", tag, "-f", "Containerfile", "."],
        cwd=context,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    return tag


def stage(name: str, script: str, *args: str, **fields: Any) -> dict[str, Any]:
    """A stage running one of the test scripts (tests/workflow/scripts, as t/ in the image)."""
    return {"name": name, "run": ["bash", f"t/{script}", *args], **fields}


@pytest.fixture
def run(engine: LocalEngine):
    def run_fixture(name: str, execution_input: object) -> RunResult:
        definition = (FIXTURES / f"{name}.asl.json").read_text()
        return engine.run(definition, execution_input, SUBSTITUTIONS)

    return run_fixture
