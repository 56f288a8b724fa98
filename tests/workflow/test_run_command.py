"""`longjob run --definition`: the command a user runs, its output and exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, VENV_BIN

from .conftest import FIXTURES, SUBSTITUTIONS

SUBS = [arg for name, value in SUBSTITUTIONS.items() for arg in ("--sub", f"{name}={value}")]


def longjob(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "longjob"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        input=stdin,
        timeout=120,
        check=False,
    )


def write(path: Path, document: object) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def test_success_prints_live_lines_and_a_table(project: Path, tmp_path: Path) -> None:
    result = longjob(
        "run",
        "--definition",
        str(FIXTURES / "one_task.asl.json"),
        "--input",
        write(tmp_path / "in.json", {"exitCode": "0"}),
        *SUBS,
        cwd=project,
    )
    assert result.returncode == 0, result.stderr
    assert "[Run script] args: a b c" in result.stdout
    assert "execution local-" in result.stdout
    assert ": SUCCEEDED" in result.stdout
    assert "Run script  1        0     EssentialContainerExited" in result.stdout
    run_dirs = list((project / ".longjob" / "runs").iterdir())
    assert any(d.glob("Run_script.attempt1.*.log") for d in run_dirs)


def test_failure_exits_1_with_json_document(project: Path, tmp_path: Path) -> None:
    result = longjob(
        "run",
        "--definition",
        str(FIXTURES / "one_task.asl.json"),
        "--input",
        "-",
        "--json",
        *SUBS,
        cwd=project,
        stdin='{"exitCode": "4"}',
    )
    assert result.returncode == 1
    document = json.loads(result.stdout)  # stdout is the document alone
    assert document["status"] == "FAILED"
    assert document["error"] == "States.TaskFailed"
    assert json.loads(document["cause"])["Containers"][0]["ExitCode"] == 4
    assert document["output"] is None
    assert {"type": "ExecutionStarted", "id": 1} in document["history"]
    assert [e["name"] for e in document["history"] if e["type"] == "TaskStateEntered"] == [
        "Run script"
    ]
    assert document["tasks"][0]["exit_code"] == 4
    assert "[Run script] args: a b c" in result.stderr  # task output kept off stdout


@pytest.mark.parametrize(
    ("definition", "extra", "message"),
    [
        ('{"StartAt": "A", "States": {"A": {"Type": "Bogus"}}}', [], "definition refused: "),
        ("{not json", [], "definition is not JSON"),
        ('{"Comment": "no states"}', [], "must be a JSON object with StartAt and States"),
        (None, ["--sub", "Cluster=x"], "no value for definition substitution(s) ${TaskDefinition}"),
        (None, ["--sub", "novalue"], "'novalue' is not KEY=VALUE"),
        (None, ["--runtime", "kubernetes"], "Invalid value for '--runtime'"),
    ],
)
def test_invalid_definition_or_options_exit_2(
    project: Path, tmp_path: Path, definition: str | None, extra: list[str], message: str
) -> None:
    path = FIXTURES / "one_task.asl.json"
    if definition is not None:
        path = tmp_path / "bad.asl.json"
        path.write_text(definition)
    result = longjob("run", "--definition", str(path), *extra, cwd=project)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_invalid_input_exit_2(project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "in.json"
    bad.write_text("{")
    result = longjob(
        "run",
        "--definition",
        str(FIXTURES / "one_task.asl.json"),
        "--input",
        str(bad),
        *SUBS,
        cwd=project,
    )
    assert result.returncode == 2
    assert "in.json: not JSON (line 1, column 2" in result.stderr


def test_project_without_toolbox_is_a_clear_error(tmp_path: Path) -> None:
    result = longjob(
        "run", "--definition", str(FIXTURES / "one_task.asl.json"), *SUBS, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "container/entrypoint.sh not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_project_option_runs_the_projects_entrypoint(project: Path, tmp_path: Path) -> None:
    result = longjob(
        "run",
        "--definition",
        str(FIXTURES / "one_task.asl.json"),
        "--project",
        str(project),
        "--input",
        write(tmp_path / "in.json", {"exitCode": "0"}),
        "--json",
        *SUBS,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["logDir"].startswith(str(project))


def test_run_help_lists_the_options() -> None:
    result = longjob("run", "--help", cwd=ROOT)
    for option in ("--definition", "--input", "--sub", "--runtime", "--json", "--project"):
        assert option in result.stdout
